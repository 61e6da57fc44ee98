// ROI report (活动ROI): a campaign's incremental conversions, revenue and AUM over its
// holdout, what it cost from the ledgers, ROI — POST /api/v1/campaigns/evaluation.
import { useEffect, useState } from "react";
import { Button, Card, Col, Descriptions, Form, Input, InputNumber, Row, Select, Table } from "antd";
import { post } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";

interface Estimate {
  value: number | null;
  se?: number | null;
  ci_low: number | null;
  ci_high: number | null;
}

const ESTIMATES: [string, string][] = [
  ["incremental_conversions", "增量转化"],
  ["incremental_revenue", "增量收入"],
  ["incremental_aum", "增量资产"],
  ["roi", "投资回报率"],
  ["cost_per_incremental_conversion", "单位增量转化成本"],
];

const COST_ZH: Record<string, string> = {
  messages_sent: "发送条数",
  contact_cost: "触达成本",
  benefits_issued: "权益发放金额",
  benefits_revoked: "权益撤回金额",
  benefits_redeemed: "权益核销金额",
  fixed_cost: "固定成本",
  basis: "权益成本口径",
  benefit_cost: "权益成本",
  total: "总成本",
};
const BASIS_ZH: Record<string, string> = { redeemed: "按核销", issued: "按发放" };

const fmt = (v: number | null | undefined) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : v.toLocaleString(undefined, { maximumFractionDigits: 2 }));

export default function Roi() {
  const { t } = useI18n();
  const [form] = Form.useForm();
  // Run once with the defaults (the demo bank's own campaign), so the page opens on a result.
  useEffect(() => {
    form.submit();
  }, [form]);
  const [result, setResult] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (v: Record<string, string | number | undefined>) => {
    setBusy(true);
    setError(null);
    const body: Record<string, unknown> = { ...v };
    for (const k of ["activity_id", "dataset"]) if (!body[k]) delete body[k];
    try {
      setResult(await post<Record<string, unknown>>("/api/v1/campaigns/evaluation", body));
    } catch (e) {
      setResult(null);
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const costs = (result?.costs ?? {}) as Record<string, unknown>;
  const rows = ESTIMATES.filter(([k]) => result && result[k] && typeof result[k] === "object").map(([k, label]) => ({
    key: k,
    label: t(label),
    ...(result![k] as Estimate),
  }));
  return (
    <Row gutter={16}>
      <Col span={7}>
        <Card title={t("活动ROI")}>
          <Form
            layout="vertical"
            form={form}
            onFinish={run}
            initialValues={{ table: "fund_reach_exposure", campaign: "fund-reach", treated: "sms", holdout: "control", basis: "redeemed", fixed_cost: 0 }}
          >
            <Form.Item name="table" label={t("曝光表")} rules={[{ required: true }]}>
              <Input data-testid="roi-table" />
            </Form.Item>
            <Form.Item name="campaign" label={t("触达活动名")} rules={[{ required: true }]}>
              <Input data-testid="roi-campaign" />
            </Form.Item>
            <Form.Item name="activity_id" label={t("活动编号")}>
              <Input />
            </Form.Item>
            <Form.Item name="treated" label={t("实验组")} rules={[{ required: true }]}>
              <Input data-testid="roi-treated" />
            </Form.Item>
            <Form.Item name="holdout" label={t("对照组")} rules={[{ required: true }]}>
              <Input data-testid="roi-holdout" />
            </Form.Item>
            <Form.Item name="basis" label={t("权益成本口径")}>
              <Select options={Object.entries(BASIS_ZH).map(([value, label]) => ({ value, label: t(label) }))} />
            </Form.Item>
            <Form.Item name="fixed_cost" label={t("固定成本")}>
              <InputNumber min={0} style={{ width: "100%" }} />
            </Form.Item>
            <Button type="primary" htmlType="submit" loading={busy} data-testid="roi-run">
              {t("运行")}
            </Button>
          </Form>
        </Card>
      </Col>
      <Col span={17}>
        <Card>
          <ErrorNote error={error} />
          {result && (
            <>
              <Descriptions title={t("成本")} size="small" bordered column={2} data-testid="roi-costs">
                {Object.entries(costs).map(([k, v]) => (
                  <Descriptions.Item key={k} label={t(COST_ZH[k] ?? k)}>
                    {typeof v === "number" ? fmt(v) : k === "basis" ? t(BASIS_ZH[String(v)] ?? String(v)) : String(v)}
                  </Descriptions.Item>
                ))}
              </Descriptions>
              <Table
                style={{ marginTop: 16 }}
                size="small"
                rowKey="key"
                pagination={false}
                dataSource={rows}
                data-testid="roi-table-result"
                columns={[
                  { title: t("指标"), dataIndex: "label" },
                  { title: t("估计值"), dataIndex: "value", render: fmt },
                  { title: `${t("置信区间")} 95%`, key: "ci", render: (_: unknown, r: Estimate) => `[${fmt(r.ci_low)}, ${fmt(r.ci_high)}]` },
                ]}
              />
            </>
          )}
        </Card>
      </Col>
    </Row>
  );
}
