// Reach (触达中心): the configured channels with their rate limits and recent sends, the
// live template preview for a chosen customer, and the contact history.
import { useEffect, useRef, useState } from "react";
import { Alert, Button, Card, Descriptions, Form, Input, InputNumber, Space, Table, Tabs, Tag } from "antd";
import { get } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";

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

const counts = (c: Record<string, number>) =>
  Object.keys(c).length === 0 ? (
    "—"
  ) : (
    <Space size={4} wrap>
      {Object.entries(c)
        .sort()
        .map(([k, n]) => (
          <Tag key={k}>{`${k} ${n.toLocaleString()}`}</Tag>
        ))}
    </Space>
  );

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
          { title: t("待发队列"), key: "outbox", render: (_: unknown, c) => counts(c.outbox) },
          { title: `${t("近期发送")} (${data?.window_hours ?? 24}h)`, key: "contacts", render: (_: unknown, c) => counts(c.contacts) },
        ]}
      />
    </>
  );
}

function TemplatePreview() {
  const { t } = useI18n();
  const [out, setOut] = useState<Row | null>(null);
  const [error, setError] = useState<unknown>(null);
  const timer = useRef<number | undefined>(undefined);
  const run = async (v: { template_id?: string; customer_id?: number | null }) => {
    if (!v.template_id || v.customer_id === undefined || v.customer_id === null) return;
    setError(null);
    try {
      setOut(await get<Row>(`/api/v1/reach/templates/${encodeURIComponent(v.template_id)}/preview?customer_id=${v.customer_id}`));
    } catch (e) {
      setOut(null);
      setError(e);
    }
  };
  // Live: the preview follows the fields as they are typed (after a short pause).
  const onChange = (_: unknown, all: { template_id?: string; customer_id?: number | null }) => {
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => void run(all), 400);
  };
  return (
    <>
      <Form layout="inline" onFinish={run} onValuesChange={onChange}>
        <Form.Item name="template_id" label={t("模板编号")} rules={[{ required: true }]}>
          <Input style={{ width: 160 }} data-testid="preview-template" />
        </Form.Item>
        <Form.Item name="customer_id" label={t("客户号")} rules={[{ required: true }]}>
          <InputNumber style={{ width: 140 }} min={0} data-testid="preview-customer" />
        </Form.Item>
        <Button type="primary" htmlType="submit">
          {t("预览")}
        </Button>
      </Form>
      <div style={{ marginTop: 12 }}>
        <ErrorNote error={error} />
        {out && (
          <Descriptions bordered size="small" column={1} data-testid="preview-result">
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
          { key: "channels", label: t("渠道配置"), children: <Channels /> },
          { key: "contacts", label: t("接触历史"), children: <Contacts /> },
          { key: "preview", label: t("模板预览"), children: <TemplatePreview /> },
        ]}
      />
    </Card>
  );
}
