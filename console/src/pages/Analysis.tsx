// Monitoring analyses (事件 / 留存 / 路径 / 归因): a form per kind builds the analysis
// document, POST /api/v1/analyses/run answers in the caller's scope, a chart and a table.
import { useState, type ReactNode } from "react";
import { Button, Card, Col, Form, Input, InputNumber, Row, Select, Table } from "antd";
import { post } from "../api";
import { Chart } from "../components/Chart";
import "../components/charts-extra";
import { ErrorNote } from "../components/Missing";
import { percent } from "../format";
import { useI18n } from "../i18n";
import {
  attributionDocument,
  eventDocument,
  eventSeries,
  pathDocument,
  retentionCurve,
  retentionDocument,
  type Cohort,
  type EventRow,
} from "../analysis";

export type Kind = "event" | "retention" | "path" | "attribution";
type Values = Record<string, string | number>;

const RANGE = { start: "2025-01-01", end: "2025-03-31" };
const DEFAULTS: Record<Kind, Values> = {
  event: { event: "app_open", measure: "count", interval: "month", property: "", by: "", ...RANGE },
  retention: { initial: "login", returning: "login", unit: "week", periods: 6, ...RANGE },
  path: { anchor: "app_open", direction: "after", depth: 3, top: 10, ...RANGE },
  attribution: { conversion: "fund_purchase", touches: "app_open, product_browse, fund_detail_view", model: "position", lookback_days: 14, ...RANGE },
};
const TITLES: Record<Kind, string> = { event: "事件分析", retention: "留存分析", path: "路径分析", attribution: "归因分析" };

function documentOf(kind: Kind, v: Values): Record<string, unknown> {
  const s = (k: string) => String(v[k] ?? "");
  const n = (k: string) => Number(v[k]);
  const range = { start: s("start"), end: s("end") };
  if (kind === "event") return eventDocument({ ...range, event: s("event"), measure: s("measure"), property: s("property"), interval: s("interval"), by: s("by") });
  if (kind === "retention") return retentionDocument({ ...range, initial: s("initial"), returning: s("returning"), unit: s("unit"), periods: n("periods") });
  if (kind === "path") return pathDocument({ ...range, anchor: s("anchor"), direction: s("direction"), depth: n("depth"), top: n("top") });
  return attributionDocument({ ...range, conversion: s("conversion"), touches: s("touches"), model: s("model"), lookback_days: n("lookback_days") });
}

export default function Analysis({ kind }: { kind: Kind }) {
  const { t } = useI18n();
  const [result, setResult] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const run = async (v: Values) => {
    setBusy(true);
    setError(null);
    try {
      setResult(await post<Record<string, unknown>>("/api/v1/analyses/run", { analysis: documentOf(kind, v) }));
    } catch (e) {
      setResult(null);
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Row gutter={16}>
      <Col span={7}>
        <Card title={t(TITLES[kind])}>
          <Form key={kind} layout="vertical" onFinish={run} initialValues={DEFAULTS[kind]}>
            <Fields kind={kind} />
            <Form.Item name="start" label={t("开始日期")} rules={[{ required: true }]}>
              <Input data-testid="analysis-start" />
            </Form.Item>
            <Form.Item name="end" label={t("结束日期")} rules={[{ required: true }]}>
              <Input data-testid="analysis-end" />
            </Form.Item>
            <Button type="primary" htmlType="submit" loading={busy} data-testid="analysis-run">
              {t("运行")}
            </Button>
          </Form>
        </Card>
      </Col>
      <Col span={17}>
        <Card>
          <ErrorNote error={error} />
          {result && result.kind === kind ? <Answer kind={kind} result={result} /> : !error && <span>{t("填写条件后点击运行")}</span>}
        </Card>
      </Col>
    </Row>
  );
}

/** The analysis options in the operator's words (the documents keep the codes). */
const CHOICE_ZH: Record<string, string> = {
  count: "次数",
  customers: "人数",
  sum: "求和",
  day: "按天",
  week: "按周",
  month: "按月",
  after: "之后",
  before: "之前",
  first: "首次触点",
  last: "末次触点",
  linear: "线性",
  time_decay: "时间衰减",
  position: "位置(U型)",
};

function Fields({ kind }: { kind: Kind }) {
  const { t } = useI18n();
  const text = (name: string, label: string, required = true): ReactNode => (
    <Form.Item key={name} name={name} label={label} rules={required ? [{ required: true }] : []}>
      <Input data-testid={`field-${name}`} />
    </Form.Item>
  );
  const num = (name: string, label: string, min: number, max: number): ReactNode => (
    <Form.Item key={name} name={name} label={label} rules={[{ required: true }]}>
      <InputNumber min={min} max={max} data-testid={`field-${name}`} />
    </Form.Item>
  );
  const pick = (name: string, label: string, values: string[]): ReactNode => (
    <Form.Item key={name} name={name} label={label}>
      <Select options={values.map((value) => ({ value, label: CHOICE_ZH[value] ? t(CHOICE_ZH[value]) : value }))} data-testid={`field-${name}`} />
    </Form.Item>
  );
  if (kind === "event")
    return (
      <>
        {text("event", t("事件"))}
        {pick("measure", t("度量"), ["count", "customers", "sum"])}
        {text("property", t("求和属性"), false)}
        {pick("interval", t("周期"), ["day", "week", "month"])}
        {text("by", t("分组属性"), false)}
      </>
    );
  if (kind === "retention")
    return (
      <>
        {text("initial", t("初始事件"))}
        {text("returning", t("回访事件"))}
        {pick("unit", t("周期"), ["day", "week", "month"])}
        {num("periods", t("周期数"), 1, 60)}
      </>
    );
  if (kind === "path")
    return (
      <>
        {text("anchor", t("锚点事件"))}
        {pick("direction", t("方向"), ["after", "before"])}
        {num("depth", t("深度"), 1, 10)}
        {num("top", t("路径数"), 1, 100)}
      </>
    );
  return (
    <>
      {text("conversion", t("转化事件"))}
      {text("touches", t("触点事件"))}
      {pick("model", t("归因模型"), ["first", "last", "linear", "time_decay", "position"])}
      {num("lookback_days", t("回溯天数"), 1, 365)}
    </>
  );
}

function Answer({ kind, result }: { kind: Kind; result: Record<string, unknown> }) {
  const { t } = useI18n();
  if (kind === "event") {
    const rows = result.rows as EventRow[];
    const s = eventSeries(rows);
    return (
      <>
        <Chart
          testId="chart-event"
          option={{
            tooltip: { trigger: "axis" },
            legend: { top: 0 },
            grid: { left: 60, right: 20, top: 40, bottom: 30 },
            xAxis: { type: "category", data: s.periods },
            yAxis: { type: "value" },
            series: s.series.map((x) => ({ type: "line", name: x.name, data: x.data })),
          }}
        />
        <Table<EventRow>
          size="small"
          rowKey={(r) => `${r.period}/${r.group ?? ""}`}
          dataSource={rows}
          pagination={{ pageSize: 12, hideOnSinglePage: true }}
          data-testid="event-table"
          columns={[
            { title: t("周期"), dataIndex: "period" },
            { title: t("分组"), dataIndex: "group", render: (g: string | null | undefined) => g ?? "—" },
            { title: t("值"), dataIndex: "value", render: (v: number) => v.toLocaleString() },
          ]}
        />
      </>
    );
  }
  if (kind === "retention") {
    const cohorts = result.cohorts as Cohort[];
    const curve = retentionCurve(cohorts);
    const periods = Math.max(0, ...cohorts.map((c) => c.retained.length));
    return (
      <>
        <Chart
          testId="chart-retention"
          height={260}
          option={{
            tooltip: { trigger: "axis", valueFormatter: (v) => percent(Number(v)) },
            grid: { left: 60, right: 20, top: 20, bottom: 30 },
            xAxis: { type: "category", data: curve.map((_, i) => String(i)) },
            yAxis: { type: "value", max: 1, axisLabel: { formatter: (v: number) => percent(v, 0) } },
            series: [{ type: "line", data: curve, areaStyle: {}, itemStyle: { color: "#c8102e" } }],
          }}
        />
        <Table<Cohort>
          size="small"
          rowKey="cohort"
          dataSource={cohorts}
          pagination={false}
          scroll={{ x: true }}
          data-testid="retention-table"
          columns={[
            { title: t("同期群"), dataIndex: "cohort" },
            { title: t("人数"), dataIndex: "size" },
            ...Array.from({ length: periods }, (_, i) => ({
              title: String(i),
              key: `p${i}`,
              render: (_: unknown, c: Cohort) => (i < c.rate.length ? percent(c.rate[i]) : ""),
            })),
          ]}
        />
      </>
    );
  }
  if (kind === "path") {
    const paths = result.paths as { path: string[]; customers: number }[];
    return (
      <>
        <Chart
          testId="chart-path"
          height={420}
          option={{
            tooltip: { trigger: "item" },
            series: [{ type: "sankey", data: result.nodes as { name: string }[], links: result.links as object[], emphasis: { focus: "adjacency" }, lineStyle: { color: "gradient", curveness: 0.5 } }],
          }}
        />
        <Table
          size="small"
          rowKey={(r) => r.path.join(">")}
          dataSource={paths}
          pagination={false}
          data-testid="path-table"
          columns={[
            { title: t("路径"), dataIndex: "path", render: (p: string[]) => p.join(" → ") },
            { title: t("人数"), dataIndex: "customers" },
          ]}
        />
      </>
    );
  }
  const channels = result.channels as { channel: string; credit: number; conversions: number }[];
  return (
    <>
      <div data-testid="attribution-total">
        {t("转化总数")}: {Number(result.total_conversions).toLocaleString()}
      </div>
      <Chart
        testId="chart-attribution"
        height={300}
        option={{
          tooltip: { trigger: "item" },
          series: [{ type: "pie", radius: ["35%", "65%"], data: channels.map((c) => ({ name: c.channel, value: Math.round(c.credit * 100) / 100 })) }],
        }}
      />
      <Table
        size="small"
        rowKey="channel"
        dataSource={channels}
        pagination={false}
        data-testid="attribution-table"
        columns={[
          { title: t("渠道"), dataIndex: "channel" },
          { title: t("归因转化"), dataIndex: "credit", render: (v: number) => v.toFixed(2) },
          { title: t("占比"), dataIndex: "credit", key: "share", render: (v: number) => percent(v / Number(result.total_conversions)) },
        ]}
      />
    </>
  );
}
