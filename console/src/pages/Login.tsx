import { useState } from "react";
import { Alert, Button, Card, Form, Input, Segmented, Typography } from "antd";
import { LockOutlined, UserOutlined } from "@ant-design/icons";
import { get, post, type Me } from "../api";
import { useI18n } from "../i18n";

export function Login({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const { t, lang, setLang } = useI18n();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (v: { username: string; password: string }) => {
    setBusy(true);
    setError(null);
    try {
      await post("/api/v1/auth/login", v);
      onSignedIn(await get<Me>("/api/v1/auth/me"));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div style={{ minHeight: "100vh", display: "grid", placeItems: "center", background: "#f5f5f5" }}>
      <Card style={{ width: 380 }}>
        <Typography.Title level={3} style={{ textAlign: "center" }}>
          opsloop · {t("运营工作台")}
        </Typography.Title>
        <Form layout="vertical" onFinish={submit}>
          <Form.Item name="username" label={t("用户名")} rules={[{ required: true }]}>
            <Input prefix={<UserOutlined />} autoComplete="username" id="username" />
          </Form.Item>
          <Form.Item name="password" label={t("密码")} rules={[{ required: true }]}>
            <Input.Password prefix={<LockOutlined />} autoComplete="current-password" id="password" />
          </Form.Item>
          {error && <Alert type="error" message={error} style={{ marginBottom: 12 }} data-testid="login-error" />}
          <Button type="primary" htmlType="submit" block loading={busy} data-testid="login-submit">
            {t("登录")}
          </Button>
        </Form>
        <div style={{ textAlign: "center", marginTop: 12 }}>
          <Segmented
            size="small"
            value={lang}
            options={[
              { label: "中文", value: "zh-CN" },
              { label: "EN", value: "en" },
            ]}
            onChange={(v) => setLang(v as "zh-CN" | "en")}
          />
        </div>
      </Card>
    </div>
  );
}
