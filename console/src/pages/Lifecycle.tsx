// Lifecycle and AUM-tier flow (客户流转) month over month as a Sankey, and the churn-risk
// and high-potential lists (流失预警 / 高潜客户) from the model scores, PII masked.
import { useEffect, useState } from "react";
import { Alert, Card, Input, Segmented, Space, Table, Tabs, Tag } from "antd";
import { Link } from "react-router-dom";
import { ApiError, get } from "../api";
import { Chart } from "../components/Chart";
import "../components/charts-extra";
import { ErrorNote } from "../components/Missing";
import { percent } from "../format";
import { useI18n } from "../i18n";
import { flowSankey, type FlowLink } from "../insight";
import { reasonsText, STAGE_ZH, VALUE_ZH } from "../labels";

interface Flow {
  by: "stage" | "tier";
  from_month: string;
  to_month: string;
  links: FlowLink[];
}

interface Scored {
  customer_id: number;
  org_id: string | null;
  rm_id: string | null;
  name: string | null;
  phone: string | null;
  score: number;
  band: string;
  reasons: { feature: string; value: unknown; contribution: number }[];
}


export default function Lifecycle() {
  const { t } = useI18n();
  const [by, setBy] = useState<"stage" | "tier">("stage");
  const [months, setMonths] = useState<{ from: string; to: string }>({ from: "", to: "" });
  const [flow, setFlow] = useState<Flow | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const q = new URLSearchParams({ by });
    if (months.from) q.set("from_month", `${months.from}-01`);
    if (months.to) q.set("to_month", `${months.to}-01`);
    setError(null);
    get<Flow>(`/api/v1/console/lifecycle-flow?${q}`).then(setFlow, (e) => {
      setFlow(null);
      setError(e);
    });
  }, [by, months]);
  const label = (s: string) => (by === "stage" ? t(STAGE_ZH[s] ?? s) : s === "absent" ? t("不在册") : s);
  const sankey = flow ? flowSankey(flow.links, flow.from_month, flow.to_month, label) : null;
  const total = flow?.links.reduce((a, l) => a + l.customers, 0) ?? 0;
  return (
    <Space direction="vertical" style={{ width: "100%" }} size={16}>
      <Card
        title={t("客户流转")}
        extra={
          <Space>
            <Segmented
              value={by}
              onChange={(v) => setBy(v as "stage" | "tier")}
              options={[
                { label: t("生命周期"), value: "stage" },
                { label: t("资产分层"), value: "tier" },
              ]}
              data-testid="flow-by"
            />
            <Input.Search
              placeholder={`${t("起始月")} YYYY-MM`}
              style={{ width: 170 }}
              onSearch={(v) => setMonths((m) => ({ ...m, from: v.trim() }))}
              data-testid="flow-from"
            />
            <Input.Search
              placeholder={`${t("目标月")} YYYY-MM`}
              style={{ width: 170 }}
              onSearch={(v) => setMonths((m) => ({ ...m, to: v.trim() }))}
              data-testid="flow-to"
            />
          </Space>
        }
      >
        <ErrorNote error={error} />
        {flow && sankey && (
          <>
            <div data-testid="flow-summary" style={{ marginBottom: 8 }}>
              {flow.from_month} → {flow.to_month} · {t("客户总数")}: {total.toLocaleString()}
            </div>
            <Chart
              testId="chart-flow"
              height={460}
              option={{
                tooltip: { trigger: "item" },
                series: [
                  {
                    type: "sankey",
                    data: sankey.nodes,
                    links: sankey.links,
                    nodeAlign: "justify",
                    nodeGap: 14, // small stages (不在册, 流失) keep their labels apart
                    emphasis: { focus: "adjacency" },
                    lineStyle: { color: "gradient", curveness: 0.5 },
                  },
                ],
              }}
            />
            <Table<FlowLink>
              size="small"
              rowKey={(l) => `${l.source}>${l.target}`}
              data-testid="flow-table"
              dataSource={[...flow.links].sort((x, y) => y.customers - x.customers)}
              pagination={{ pageSize: 8, hideOnSinglePage: true }}
              columns={[
                { title: t("流向"), key: "flow", render: (_: unknown, l) => `${label(l.source)} → ${label(l.target)}` },
                { title: t("人数"), dataIndex: "customers", render: (v: number) => v.toLocaleString() },
                { title: t("占比"), key: "share", render: (_: unknown, l) => percent(l.customers / total) },
              ]}
            />
          </>
        )}
      </Card>
      <Card>
        <Tabs
          items={[
            { key: "churn", label: t("流失预警"), children: <ScoredList model="churn" /> },
            { key: "propensity", label: t("高潜客户"), children: <ScoredList model="propensity" /> },
          ]}
        />
      </Card>
    </Space>
  );
}

function ScoredList({ model }: { model: "churn" | "propensity" }) {
  const { t } = useI18n();
  const [rows, setRows] = useState<Scored[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    get<Scored[]>(`/api/v1/console/scored-customers?model=${model}&k=50`).then(setRows, setError);
  }, [model]);
  return (
    <>
      {error instanceof ApiError && error.status === 404 && error.where === "model" ? (
        <Alert type="info" showIcon message={t("尚无模型评分：在服务器上运行 opsloop model train churn 与 opsloop model train propensity 后刷新")} data-testid="no-scores" />
      ) : (
        <ErrorNote error={error} />
      )}
      <Table<Scored>
        size="small"
        rowKey="customer_id"
        loading={rows === null && !error}
        dataSource={rows ?? []}
        data-testid={`list-${model}`}
        pagination={{ pageSize: 10 }}
        columns={[
          { title: t("客户号"), dataIndex: "customer_id", render: (v: number) => <Link to={`/customers/${v}`}>{v}</Link> },
          { title: t("姓名"), dataIndex: "name" },
          { title: t("手机"), dataIndex: "phone" },
          { title: t("机构"), dataIndex: "org_id" },
          { title: t("客户经理"), dataIndex: "rm_id" },
          { title: t("评分"), dataIndex: "score", render: (v: number) => v.toFixed(3) },
          { title: t("等级"), dataIndex: "band", render: (v: string) => <Tag color={v === "high" ? "red" : v === "medium" ? "orange" : "default"}>{t(VALUE_ZH.band[v] ?? v)}</Tag> },
          {
            title: t("主要原因"),
            dataIndex: "reasons",
            render: (rs: Scored["reasons"]) => <span title={rs.map((r) => `${r.feature}=${String(r.value)}`).join("; ")}>{reasonsText(rs, t)}</span>,
          },
        ]}
      />
    </>
  );
}
