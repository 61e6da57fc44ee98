import { useEffect, useState } from "react";
import { Alert, Col, Row, Skeleton, Statistic } from "antd";
import { ArrowDownOutlined, ArrowUpOutlined } from "@ant-design/icons";
import { ApiError, get, getPrefetched, type Me } from "../api";
import { Chart } from "../components/Chart";
import { ErrorNote } from "../components/Missing";
import { Note, Panel } from "../components/Panel";
import { bigNumber, percent } from "../format";
import { useI18n } from "../i18n";

export interface MonthValue {
  period: string;
  value: number;
  change?: number | null;
  change_pct?: number | null;
}

export interface DashboardData {
  as_of: string;
  customers: number;
  new_customers: number;
  active_customers: number;
  inactive_customers: number;
  mau: MonthValue[];
  aum: MonthValue[];
  running_journeys: number;
  running_activities: number;
}

interface JourneyHealth {
  stuck: unknown[];
  failed_sends: unknown[];
  suppressions: Record<string, { day: string; count: number; spike: boolean; robust_z: number }>;
}

/** Alerts on the home page: journey health from the monitoring center, if it is there. */
function Alerts() {
  const { t } = useI18n();
  const [health, setHealth] = useState<JourneyHealth | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    get<JourneyHealth>("/api/v1/monitor/journey-health").then(setHealth, setError);
  }, []);
  // Journey health is bank-wide only: a branch user is told so, not shown an error.
  if (error instanceof ApiError && error.status === 403) return <Alert type="info" showIcon message={t("旅程健康告警只对总行（全行范围）用户开放")} />;
  if (error) return <ErrorNote error={error} />;
  if (!health) return <Skeleton active paragraph={{ rows: 2 }} />;
  const items = [
    ...(health.stuck.length ? [`${t("旅程卡住的客户")} × ${health.stuck.length}`] : []),
    ...(health.failed_sends.length ? [`${t("发送失败")} × ${health.failed_sends.length}`] : []),
    ...Object.entries(health.suppressions)
      .filter(([, v]) => v.spike)
      .map(([k, v]) => `${t("触达拦截激增")} ${k} ${v.day}: ${v.count} (z=${v.robust_z.toFixed(1)})`),
  ];
  if (!items.length) return <Alert type="success" showIcon message={`${t("旅程健康")}: ${t("无异常")}`} />;
  // Plain markup, not antd's List: List brings Pagination and Select into the first load.
  return (
    <div style={{ display: "flex", flexDirection: "column", gap: 8 }}>
      {items.map((i) => (
        <Alert key={i} type="warning" showIcon message={i} />
      ))}
    </div>
  );
}

export function Home({ me }: { me: Me }) {
  const { t, lang } = useI18n();
  const [data, setData] = useState<DashboardData | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    getPrefetched<DashboardData>("/api/v1/dashboard").then(setData, setError);
  }, [me.id]);
  if (error) return <ErrorNote error={error} />;
  if (!data) return <Skeleton active />;
  const last = data.aum[data.aum.length - 1];
  const pct = last?.change_pct ?? null;
  const mauLast = data.mau[data.mau.length - 1]?.value ?? 0;
  const mauPrev = data.mau.length > 1 ? data.mau[data.mau.length - 2].value : null;
  const month = (p: string) => p.slice(0, 7);
  return (
    <div data-testid="home">
      <Note>
        {t("数据截至")} {data.as_of}
      </Note>
      <Row gutter={[16, 16]} style={{ marginTop: 8 }}>
        <Col span={6}>
          <Panel>
            <Statistic
              title={t("资产规模")}
              value={bigNumber(last?.value ?? 0, lang)}
              data-testid="kpi-aum"
            />
            <Note tone={pct !== null && pct < 0 ? "danger" : "success"}>
              {pct !== null && pct < 0 ? <ArrowDownOutlined /> : <ArrowUpOutlined />} {t("较上月")} {percent(pct, 2)}
            </Note>
          </Panel>
        </Col>
        <Col span={6}>
          <Panel>
            <Statistic title={t("月活客户")} value={mauLast} data-testid="kpi-mau" />
            <Note>
              {t("较上月")} {mauPrev ? percent(mauLast / mauPrev - 1) : "—"}
            </Note>
          </Panel>
        </Col>
        <Col span={6}>
          <Panel>
            <Statistic title={t("客户总数")} value={data.customers} data-testid="kpi-customers" />
            <Note>
              {t("新增客户")} {data.new_customers}
            </Note>
          </Panel>
        </Col>
        <Col span={6}>
          <Panel>
            <Statistic title={t("运行中旅程")} value={data.running_journeys} />
            <Note>
              {t("进行中活动")} {data.running_activities}
            </Note>
          </Panel>
        </Col>
        <Col span={14}>
          <Panel title={t("资产规模趋势")}>
            <Chart
              testId="chart-aum"
              option={{
                tooltip: { trigger: "axis" },
                grid: { left: 80, right: 20, top: 20, bottom: 30 },
                xAxis: { type: "category", data: data.aum.map((r) => month(r.period)) },
                yAxis: { type: "value", axisLabel: { formatter: (v: number) => bigNumber(v, lang) } },
                series: [{ type: "line", smooth: true, areaStyle: {}, data: data.aum.map((r) => r.value), name: t("资产规模") }],
              }}
            />
          </Panel>
        </Col>
        <Col span={10}>
          <Panel title={t("客户构成")}>
            <Chart
              testId="chart-customers"
              option={{
                tooltip: { trigger: "axis" },
                grid: { left: 60, right: 20, top: 20, bottom: 30 },
                xAxis: { type: "category", data: [t("新增客户"), t("活跃客户"), t("非活跃客户")], axisLabel: { interval: 0 } },
                yAxis: { type: "value" },
                series: [
                  {
                    type: "bar",
                    data: [data.new_customers, data.active_customers, data.inactive_customers],
                    itemStyle: { color: "#c8102e" },
                    label: { show: true, position: "top" },
                  },
                ],
              }}
            />
          </Panel>
        </Col>
        <Col span={16}>
          <Panel title={t("月活趋势")}>
            <Chart
              height={240}
              option={{
                tooltip: { trigger: "axis" },
                grid: { left: 60, right: 20, top: 20, bottom: 30 },
                xAxis: { type: "category", data: data.mau.map((r) => month(r.period)) },
                yAxis: { type: "value" },
                series: [{ type: "bar", data: data.mau.map((r) => r.value), name: t("月活客户") }],
              }}
            />
          </Panel>
        </Col>
        <Col span={8}>
          <Panel title={t("告警")} testId="alerts">
            <Alerts />
          </Panel>
        </Col>
      </Row>
    </div>
  );
}
