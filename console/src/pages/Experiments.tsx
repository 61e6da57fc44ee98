// Experiment read-out (实验结果): differences with CIs and the probability to beat control.
import { useEffect, useState } from "react";
import { Button, Card, Form, Input, Select, Space, Table, Tag, Typography } from "antd";
import { post } from "../api";
import { ciChartSeries } from "../ciChart";
import { Chart } from "../components/Chart";
import "../components/charts-extra"; // scatter (the estimate) and the zero line
import { ErrorNote } from "../components/Missing";
import { percent } from "../format";
import { useI18n } from "../i18n";

interface Estimate {
  value: number | null;
  se: number | null;
  ci_low: number | null;
  ci_high: number | null;
}
interface Arm {
  arm: string;
  n: number;
  mean: Estimate;
  vs_control: { difference: Estimate; relative: Estimate; p_value: number | null } | null;
  bayesian: { chance_to_win: number | null; expected_loss: number | null } | null;
}
interface Result {
  control: string;
  exposures: [string, number][];
  srm: { p_value: number | null; mismatch?: boolean };
  metrics: { metric: string; kind: string; arms: Arm[] }[];
}

const fmt = (v: number | null | undefined, d = 4) => (v === null || v === undefined ? "—" : v.toFixed(d));

export default function Experiments() {
  const { t } = useI18n();
  const [form] = Form.useForm();
  // Run once with the defaults (the demo bank's own campaign), so the page opens on a result.
  useEffect(() => {
    form.submit();
  }, [form]);
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async (v: { table: string; dataset: string; control: string; arm_column: string; metrics: string[]; kind: string }) => {
    setError(null);
    try {
      setResult(
        await post<Result>("/api/v1/experiments/results", {
          table: v.table,
          dataset: v.dataset || null,
          control: v.control,
          arm_column: v.arm_column || "arm",
          metrics: v.metrics.map((column) => ({ column, kind: v.kind })),
        }),
      );
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Card title={t("实验结果")}>
      <Form layout="inline" form={form} onFinish={run} initialValues={{ arm_column: "arm", kind: "proportion", metrics: ["converted"], dataset: "", table: "fund_reach_exposure", control: "control" }}>
        <Form.Item name="dataset" label={t("数据集")}>
          <Input style={{ width: 120 }} placeholder={t("默认")} />
        </Form.Item>
        <Form.Item name="table" label={t("实验表")} rules={[{ required: true }]}>
          <Input style={{ width: 170 }} data-testid="experiment-table" />
        </Form.Item>
        <Form.Item name="arm_column" label={t("分组列")}>
          <Input style={{ width: 100 }} />
        </Form.Item>
        <Form.Item name="control" label={t("对照组")} rules={[{ required: true }]}>
          <Input style={{ width: 120 }} />
        </Form.Item>
        <Form.Item name="metrics" label={t("指标")}>
          <Select mode="tags" style={{ width: 200 }} />
        </Form.Item>
        <Form.Item name="kind">
          <Select style={{ width: 120 }} options={[{ value: "proportion", label: t("比例指标") }, { value: "mean", label: t("均值指标") }]} />
        </Form.Item>
        <Button type="primary" htmlType="submit" data-testid="experiment-run">
          {t("运行")}
        </Button>
      </Form>
      <div style={{ marginTop: 16 }}>
        <ErrorNote error={error} />
      </div>
      {result && (
        <>
          <Space style={{ margin: "12px 0" }}>
            {result.exposures.map(([arm, n]) => (
              <Tag key={arm}>
                {arm}: {n}
              </Tag>
            ))}
            <Typography.Text type={result.srm.mismatch ? "danger" : "secondary"} data-testid="experiment-srm">
              {t("样本比例检验")} (SRM) p = {fmt(result.srm.p_value, 3)}
              {result.srm.mismatch ? ` · ${t("分组比例异常")}` : ""}
            </Typography.Text>
          </Space>
          {result.metrics.map((m) => {
            const arms = m.arms.filter((a) => a.vs_control);
            return (
              <Card key={m.metric} size="small" title={`${m.metric} (${m.kind === "proportion" ? t("比例指标") : t("均值指标")}) · ${t("对照组")}: ${result.control}`} style={{ marginBottom: 12 }}>
                <Table<Arm>
                  size="small"
                  rowKey="arm"
                  pagination={false}
                  dataSource={m.arms}
                  data-testid={`experiment-table-${m.metric}`}
                  columns={[
                    { title: t("分组"), dataIndex: "arm", render: (v: string) => (v === result.control ? `${v} (${t("对照组")})` : v) },
                    { title: t("样本量"), dataIndex: "n", render: (v: number) => v.toLocaleString() },
                    { title: t("均值"), render: (_, a) => fmt(a.mean.value) },
                    { title: `${t("差异")} Δ`, render: (_, a) => fmt(a.vs_control?.difference.value) },
                    { title: `${t("置信区间")} 95%`, render: (_, a) => (a.vs_control ? `[${fmt(a.vs_control.difference.ci_low)}, ${fmt(a.vs_control.difference.ci_high)}]` : "—") },
                    { title: t("提升"), render: (_, a) => percent(a.vs_control?.relative.value) },
                    { title: t("p值"), render: (_, a) => fmt(a.vs_control?.p_value, 5) },
                    { title: t("胜出概率"), render: (_, a) => percent(a.bayesian?.chance_to_win, 2) },
                  ]}
                />
                {arms.length > 0 && (
                  <Chart
                    height={60 + 50 * arms.length}
                    option={{
                      tooltip: {},
                      grid: { left: 120, right: 30, top: 10, bottom: 30 },
                      yAxis: { type: "category", data: arms.map((a) => a.arm) },
                      xAxis: { type: "value", scale: true },
                      series: ciChartSeries(
                        arms.map((a) => ({
                          arm: a.arm,
                          value: a.vs_control!.difference.value,
                          low: a.vs_control!.difference.ci_low,
                          high: a.vs_control!.difference.ci_high,
                        })),
                        `95% ${t("置信区间")}`,
                      ),
                    }}
                  />
                )}
              </Card>
            );
          })}
        </>
      )}
    </Card>
  );
}
