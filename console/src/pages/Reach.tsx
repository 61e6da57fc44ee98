// Reach (触达中心): template preview for a chosen customer and the contact history.
import { useState } from "react";
import { Button, Card, Descriptions, Form, Input, InputNumber, Table, Tabs } from "antd";
import { get } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";

type Row = Record<string, unknown>;

function TemplatePreview() {
  const { t } = useI18n();
  const [out, setOut] = useState<Row | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async (v: { template_id: string; customer_id: number }) => {
    setError(null);
    setOut(null);
    try {
      setOut(await get<Row>(`/api/v1/reach/templates/${encodeURIComponent(v.template_id)}/preview?customer_id=${v.customer_id}`));
    } catch (e) {
      setError(e);
    }
  };
  return (
    <>
      <Form layout="inline" onFinish={run}>
        <Form.Item name="template_id" label={t("模板编号")} rules={[{ required: true }]}>
          <Input style={{ width: 160 }} />
        </Form.Item>
        <Form.Item name="customer_id" label={t("客户号")} rules={[{ required: true }]}>
          <InputNumber style={{ width: 140 }} min={0} />
        </Form.Item>
        <Button type="primary" htmlType="submit">
          {t("预览")}
        </Button>
      </Form>
      <div style={{ marginTop: 12 }}>
        <ErrorNote error={error} />
        {out && (
          <Descriptions bordered size="small" column={1}>
            {Object.entries(out).map(([k, v]) => (
              <Descriptions.Item key={k} label={k}>
                <span style={{ whiteSpace: "pre-wrap" }}>{typeof v === "object" ? JSON.stringify(v) : String(v)}</span>
              </Descriptions.Item>
            ))}
          </Descriptions>
        )}
      </div>
    </>
  );
}

function Contacts() {
  const { t } = useI18n();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async (v: { customer_id?: number; campaign?: string }) => {
    setError(null);
    const q = new URLSearchParams({ limit: "200" });
    if (v.customer_id !== undefined && v.customer_id !== null) q.set("customer_id", String(v.customer_id));
    if (v.campaign) q.set("campaign", v.campaign);
    try {
      setRows(await get<Row[]>(`/api/v1/contacts?${q}`));
    } catch (e) {
      setError(e);
    }
  };
  const cols = rows && rows.length ? Object.keys(rows[0]).slice(0, 9) : [];
  return (
    <>
      <Form layout="inline" onFinish={run}>
        <Form.Item name="customer_id" label={t("客户号")}>
          <InputNumber style={{ width: 140 }} min={0} />
        </Form.Item>
        <Form.Item name="campaign" label="campaign">
          <Input style={{ width: 160 }} />
        </Form.Item>
        <Button type="primary" htmlType="submit" data-testid="contacts-run">
          {t("搜索")}
        </Button>
      </Form>
      <div style={{ marginTop: 12 }}>
        <ErrorNote error={error} />
        {rows && (
          <Table<Row>
            size="small"
            rowKey={(_, i) => String(i)}
            dataSource={rows}
            locale={{ emptyText: t("暂无数据") }}
            columns={cols.map((k) => ({ title: k, dataIndex: k, render: (v: unknown) => String(v ?? "") }))}
          />
        )}
      </div>
    </>
  );
}

export default function Reach() {
  const { t } = useI18n();
  return (
    <Card title={t("触达中心")}>
      <Tabs
        items={[
          { key: "contacts", label: t("接触历史"), children: <Contacts /> },
          { key: "preview", label: t("模板预览"), children: <TemplatePreview /> },
        ]}
      />
    </Card>
  );
}
