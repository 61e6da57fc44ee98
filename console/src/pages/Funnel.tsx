// Funnel analysis (漏斗分析): build the analysis document, run it, chart the steps.
import { useState } from "react";
import { Button, Card, Col, Form, Input, InputNumber, Row, Select, Space, Table } from "antd";
import { MinusCircleOutlined, PlusOutlined } from "@ant-design/icons";
import { post } from "../api";
import { Chart } from "../components/Chart";
import "../components/charts-extra";
import { ErrorNote } from "../components/Missing";
import { percent } from "../format";
import { useI18n } from "../i18n";

interface Step {
  step: number;
  event: string;
  customers: number;
  conversion: number;
  from_previous: number;
}
interface Result {
  groups: { group: string | null; steps: Step[]; median_seconds: number | null }[];
}

export function funnelDocument(v: { steps: string[]; window_days: number; order: string; start: string; end: string }) {
  return {
    kind: "funnel",
    steps: v.steps.filter((s) => s && s.trim()).map((s) => ({ event: s.trim() })),
    window_days: v.window_days,
    order: v.order,
    start: v.start,
    end: v.end,
  };
}

export default function Funnel() {
  const { t } = useI18n();
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (v: { steps: string[]; window_days: number; order: string; start: string; end: string }) => {
    setBusy(true);
    setError(null);
    try {
      setResult(await post<Result>("/api/v1/analyses/run", { analysis: funnelDocument(v) }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const steps = result?.groups[0]?.steps ?? [];
  return (
    <Row gutter={16}>
      <Col span={9}>
        <Card title={t("漏斗分析")}>
          <Form
            layout="vertical"
            onFinish={run}
            initialValues={{
              steps: ["app_open", "product_browse", "fund_detail_view", "fund_purchase"],
              window_days: 7,
              order: "loose",
              start: "2025-01-01",
              end: "2025-03-31",
            }}
          >
            <Form.List name="steps">
              {(fields, { add, remove }) => (
                <>
                  {fields.map((f, i) => (
                    <Space key={f.key} align="baseline">
                      <span>{i + 1}.</span>
                      <Form.Item name={f.name} rules={[{ required: true }]} style={{ marginBottom: 6 }}>
                        <Input style={{ width: 220 }} data-testid={`funnel-step-${i}`} />
                      </Form.Item>
                      <MinusCircleOutlined onClick={() => remove(f.name)} />
                    </Space>
                  ))}
                  <Button type="dashed" onClick={() => add("")} icon={<PlusOutlined />} block>
                    {t("步骤")}
                  </Button>
                </>
              )}
            </Form.List>
            <Space style={{ marginTop: 12 }} wrap>
              <Form.Item name="window_days" label={t("窗口天数")}>
                <InputNumber min={1} max={365} />
              </Form.Item>
              <Form.Item name="order" label={t("步骤顺序")}>
                <Select
                  style={{ width: 120 }}
                  options={[
                    { value: "loose", label: t("宽松") },
                    { value: "strict", label: t("严格") },
                  ]}
                />
              </Form.Item>
              <Form.Item name="start" label={t("开始日期")}>
                <Input style={{ width: 120 }} data-testid="funnel-start" />
              </Form.Item>
              <Form.Item name="end" label={t("结束日期")}>
                <Input style={{ width: 120 }} data-testid="funnel-end" />
              </Form.Item>
            </Space>
            <Button type="primary" htmlType="submit" loading={busy} data-testid="funnel-run">
              {t("运行")}
            </Button>
          </Form>
        </Card>
      </Col>
      <Col span={15}>
        <Card>
          <ErrorNote error={error} />
          {result && (
            <>
              <Chart
                testId="chart-funnel"
                height={320}
                option={{
                  tooltip: { trigger: "item" },
                  series: [
                    {
                      type: "funnel",
                      sort: "none",
                      left: "10%",
                      width: "80%",
                      label: { formatter: "{b}: {c}" },
                      data: steps.map((s) => ({ name: `${s.step}. ${s.event}`, value: s.customers })),
                    },
                  ],
                }}
              />
              <Table<Step>
                size="small"
                rowKey="step"
                pagination={false}
                dataSource={steps}
                data-testid="funnel-table"
                columns={[
                  { title: "#", dataIndex: "step" },
                  { title: t("事件"), dataIndex: "event" },
                  { title: t("人数"), dataIndex: "customers" },
                  { title: t("转化率"), dataIndex: "conversion", render: (v: number) => percent(v) },
                  { title: t("较上一步"), dataIndex: "from_previous", render: (v: number) => percent(v) },
                ]}
              />
            </>
          )}
        </Card>
      </Col>
    </Row>
  );
}
