// Reach (触达中心): the configured channels with their rate limits and recent sends, the
// template catalogue with an editor whose preview is live for a chosen customer, and the
// contact history.
import { useEffect, useRef, useState } from "react";
import { Alert, Button, Card, Descriptions, Form, Input, InputNumber, Select, Space, Table, Tabs, Tag } from "antd";
import { get, post } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";
import { cellText, columnTitle, CONTACT_KIND_ZH } from "../labels";

type Row = Record<string, unknown>;

interface Channel {
  name: string;
  kind: string;
  target: string | null;
  rate_per_s: number | null;
  burst: number | null;
  cost: number | null;
  outbox: Record<string, number>;
  contacts: Record<string, number>;
}

const PREVIEW_ZH: Record<string, string> = { template_id: "模板编号", masked: "已脱敏", subject: "标题", text: "正文", html: "HTML正文", sms: "短信计费", channel: "渠道", locale: "语言" };
const OUTBOX_ZH: Record<string, string> = { pending: "待发送", retry: "重试", sending: "发送中", sent: "已发送", failed: "发送失败", dead: "放弃发送" };

/** Counts by outbox status or contact kind, each named in the operator's words. */
const counts = (c: Record<string, number>, names: Record<string, string>, t: (zh: string) => string) =>
  Object.keys(c).length === 0 ? (
    "—"
  ) : (
    <Space size={4} wrap>
      {Object.entries(c)
        .sort()
        .map(([k, n]) => (
          <Tag key={k} title={k}>{`${names[k] ? t(names[k]) : k} ${n.toLocaleString()}`}</Tag>
        ))}
    </Space>
  );

/** One line of the preview: booleans as yes/no, the SMS billing as "UCS-2 · 10 字 · 1 条". */
function previewValue(k: string, v: unknown, t: (zh: string) => string): string {
  if (v === null || v === undefined) return "—";
  if (typeof v === "boolean") return v ? t("是") : t("否");
  if (k === "sms" && typeof v === "object") {
    const s = v as { encoding?: string; units?: number; segments?: number };
    return `${s.encoding ?? ""} · ${s.units ?? "?"} ${t("字")} · ${s.segments ?? "?"} ${t("条")}`;
  }
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

function Channels() {
  const { t } = useI18n();
  const [data, setData] = useState<{ configured: boolean; window_hours: number; channels: Channel[] } | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    get<{ configured: boolean; window_hours: number; channels: Channel[] }>("/api/v1/console/channels").then(setData, setError);
  }, []);
  return (
    <>
      <ErrorNote error={error} />
      {data && !data.configured && <Alert type="info" showIcon message={t("未配置渠道：在 HOME/reach.json 中配置")} style={{ marginBottom: 12 }} />}
      <Table<Channel>
        size="small"
        rowKey="name"
        loading={!data && !error}
        dataSource={data?.channels ?? []}
        pagination={false}
        data-testid="channels-table"
        locale={{ emptyText: t("暂无数据") }}
        columns={[
          { title: t("渠道"), dataIndex: "name", render: (v: string) => <b>{v}</b> },
          { title: t("类型"), dataIndex: "kind" },
          { title: t("目标"), dataIndex: "target", render: (v: string | null) => v ?? "—" },
          {
            title: t("限速"),
            key: "rate",
            render: (_: unknown, c) => (c.rate_per_s ? `${c.rate_per_s}/s · burst ${c.burst ?? 1}` : t("不限")),
          },
          { title: t("单条成本"), dataIndex: "cost", render: (v: number | null) => (v === null ? "—" : v.toFixed(3)) },
          { title: t("待发队列"), key: "outbox", render: (_: unknown, c) => counts(c.outbox, OUTBOX_ZH, t) },
          { title: `${t("近期发送")} (${data?.window_hours ?? 24}h)`, key: "contacts", render: (_: unknown, c) => counts(c.contacts, CONTACT_KIND_ZH, t) },
        ]}
      />
    </>
  );
}

interface TemplateRow {
  template_id: string;
  version: number;
  channel: string;
  locale: string;
  subject: string | null;
  body: string;
  created_by: string;
  created_at: string;
}

interface Draft {
  template_id?: string;
  channel?: string;
  locale?: string;
  subject?: string;
  body?: string;
}

const TEMPLATE_CHANNELS = ["sms", "push", "wechat", "email", "inbox", "call", "rm"];

/** The body sent to the API: empty optional fields left out (the API forbids unknown keys). */
export function draftBody(v: Draft): Record<string, unknown> {
  const out: Record<string, unknown> = { template_id: v.template_id, channel: v.channel, locale: v.locale ?? "zh", body: v.body };
  if (v.subject) out.subject = v.subject;
  return out;
}

/** Templates: the catalogue, and an editor whose preview follows every keystroke for a
 *  chosen customer (rendered by the API as the draft stands, nothing saved until Save). */
function Templates() {
  const { t } = useI18n();
  const [form] = Form.useForm<Draft>();
  const [rows, setRows] = useState<TemplateRow[] | null>(null);
  const [customer, setCustomer] = useState<number | null>(null);
  const [out, setOut] = useState<Row | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const timer = useRef<number | undefined>(undefined);
  const refresh = () => get<TemplateRow[]>("/api/v1/reach/templates").then(setRows, setError);
  useEffect(() => {
    void refresh();
  }, []);
  const preview = async (cid: number | null) => {
    const v = form.getFieldsValue(true) as Draft;
    if (cid === null || !v.template_id || !v.body || !v.channel) return;
    try {
      setOut(await post<Row>("/api/v1/reach/templates/preview", { definition: draftBody(v), customer_id: cid }));
      setError(null);
    } catch (e) {
      setOut(null);
      setError(e);
    }
  };
  const later = (cid: number | null) => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => void preview(cid), 400);
  };
  const open = async (id: string) => {
    const d = await get<Draft>(`/api/v1/reach/templates/${encodeURIComponent(id)}`);
    form.resetFields();
    form.setFieldsValue({ ...d, subject: d.subject ?? undefined });
    setSaved(null);
    later(customer);
  };
  const save = async () => {
    const v = await form.validateFields();
    try {
      const r = await post<{ template_id: string; version: number }>("/api/v1/reach/templates", draftBody(v));
      setSaved(`${r.template_id} v${r.version}`);
      setError(null);
      void refresh();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <div style={{ display: "flex", gap: 16, alignItems: "flex-start" }}>
      <Table<TemplateRow>
        style={{ width: 420 }}
        size="small"
        rowKey="template_id"
        loading={rows === null && !error}
        dataSource={rows ?? []}
        pagination={{ pageSize: 12 }}
        data-testid="template-table"
        locale={{ emptyText: t("暂无数据") }}
        onRow={(r) => ({ onClick: () => void open(r.template_id), style: { cursor: "pointer" } })}
        columns={[
          { title: t("模板编号"), dataIndex: "template_id", render: (v: string) => <a data-testid={`template-${v}`}>{v}</a> },
          { title: t("渠道"), dataIndex: "channel" },
          { title: t("版本"), dataIndex: "version", render: (v: number) => `v${v}` },
          { title: t("正文"), dataIndex: "body", ellipsis: true },
        ]}
      />
      <Card size="small" style={{ flex: 1 }} title={t("编辑模板")} extra={<Button onClick={() => { form.resetFields(); setOut(null); setSaved(null); }} data-testid="template-new">{t("新建模板")}</Button>}>
        <Form form={form} layout="vertical" initialValues={{ channel: "sms", locale: "zh" }} onValuesChange={() => later(customer)}>
          <Space wrap>
            <Form.Item name="template_id" label={t("模板编号")} rules={[{ required: true, pattern: /^[a-z0-9][a-z0-9_-]{0,63}$/ }]}>
              <Input style={{ width: 180 }} data-testid="template-id" />
            </Form.Item>
            <Form.Item name="channel" label={t("渠道")} rules={[{ required: true }]}>
              <Select style={{ width: 120 }} options={TEMPLATE_CHANNELS.map((c) => ({ value: c, label: c }))} data-testid="template-channel" />
            </Form.Item>
            <Form.Item name="locale" label={t("语言")}>
              <Select style={{ width: 90 }} options={[{ value: "zh", label: "中文" }, { value: "en", label: "English" }]} />
            </Form.Item>
          </Space>
          <Form.Item name="subject" label={t("标题 (邮件必填)")}>
            <Input data-testid="template-subject" />
          </Form.Item>
          <Form.Item name="body" label={t("正文 (可用 {{ customer.city }} 等变量)")} rules={[{ required: true }]}>
            <Input.TextArea rows={4} data-testid="template-body" />
          </Form.Item>
        </Form>
        <Space wrap>
          <span>{t("预览客户")}</span>
          <InputNumber
            min={0}
            style={{ width: 140 }}
            value={customer}
            data-testid="preview-customer"
            onChange={(v) => {
              setCustomer(v);
              later(v);
            }}
          />
          <Button type="primary" onClick={save} data-testid="template-save">
            {t("保存")}
          </Button>
          {saved && <Tag color="green" data-testid="template-saved">{`${t("已保存")}: ${saved}`}</Tag>}
        </Space>
        <div style={{ marginTop: 12 }}>
          <ErrorNote error={error} />
          {out && (
            <Descriptions bordered size="small" column={1} data-testid="preview-result">
              {Object.entries(out).map(([k, v]) => (
                <Descriptions.Item key={k} label={PREVIEW_ZH[k] ? t(PREVIEW_ZH[k]) : k}>
                  <span style={{ whiteSpace: "pre-wrap" }}>{previewValue(k, v, t)}</span>
                </Descriptions.Item>
              ))}
            </Descriptions>
          )}
        </div>
      </Card>
    </div>
  );
}

function Contacts() {
  const { t } = useI18n();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async (v: { customer_id?: number; campaign?: string }) => {
    setError(null);
    const byCustomer = v.customer_id !== undefined && v.customer_id !== null;
    if (byCustomer === Boolean(v.campaign)) {
      setRows(null);
      setError(new Error(t("请填写客户号或触达活动名（二选一）")));
      return;
    }
    const q = new URLSearchParams({ limit: "200" });
    if (v.customer_id !== undefined && v.customer_id !== null) q.set("customer_id", String(v.customer_id));
    if (v.campaign) q.set("campaign", v.campaign);
    try {
      setRows(await get<Row[]>(`/api/v1/contacts?${q}`));
    } catch (e) {
      setError(e);
    }
  };
  const cols = ["at", "customer_id", "campaign", "channel", "kind", "reason", "message_key"];
  return (
    <>
      <Form layout="inline" onFinish={run}>
        <Form.Item name="customer_id" label={t("客户号")}>
          <InputNumber style={{ width: 140 }} min={0} />
        </Form.Item>
        <Form.Item name="campaign" label={t("触达活动")}>
          <Input style={{ width: 160 }} data-testid="contacts-campaign" placeholder={t("旅程编号等")} />
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
            data-testid="contacts-table"
            columns={cols.map((k) => ({
              title: columnTitle(k, t),
              dataIndex: k,
              render: (v: unknown) =>
                k === "kind" ? (
                  <Tag color={v === "failed" || v === "dead" || v === "suppressed" ? "red" : v === "sent" || v === "delivered" ? "green" : "default"}>
                    {cellText(k, v, t)}
                  </Tag>
                ) : (
                  cellText(k, v, t)
                ),
            }))}
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
          { key: "channels", label: t("渠道配置"), children: <Channels /> },
          { key: "contacts", label: t("接触历史"), children: <Contacts /> },
          { key: "templates", label: t("消息模板"), children: <Templates /> },
        ]}
      />
    </Card>
  );
}
