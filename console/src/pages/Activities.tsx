// Activities (活动中心): the list with stock/budget usage bars and the actions each status
// allows (approve / reject, start, pause, finish), and the risk review queue.
import { useEffect, useState } from "react";
import { Button, Card, Progress, Space, Table, Tabs, Tag, Tooltip } from "antd";
import { Link } from "react-router-dom";
import { get, post } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";
import { ACTIONS_BY_STATUS, activityUsage, firedRules, TEMPLATE_ZH, type BenefitRow, type TemplateKind, type Usage } from "../activity";
import { statusLabel } from "../journey";
import { yuan } from "../format";

interface Activity {
  id: string;
  name: string;
  template: string;
  status: string;
  version: number;
  created_by: string;
  approved_by: string | null;
  definition: { template?: unknown; budget_cents?: number | null; starts_at?: string; ends_at?: string };
}

interface Stats {
  participants: number;
  issued: number;
  issued_cost_cents: number;
  redeemed: number;
  risk: Record<string, number>;
}

interface Decision {
  id: number;
  activity_id: string;
  customer_id: number;
  device_id: string | null;
  ip: string | null;
  action: string;
  score: number;
  rules: unknown; // {fired: [{rule, points, detail}]}
  status: string;
  reviewed_by: string | null;
  at: string;
}


const STATUS_COLOR: Record<string, string> = { submitted: "orange", approved: "cyan", running: "green", paused: "gold", finished: "purple" };
const when = (iso: string | undefined) => (iso ? iso.replace("T", " ").slice(0, 16) : "—");

function Bar({ u, money, testId }: { u: Usage; money?: boolean; testId: string }) {
  const text = money ? `${yuan(u.used)} / ${yuan(u.limit)}` : `${u.used.toLocaleString()} / ${u.limit.toLocaleString()}`;
  return (
    <Tooltip title={`${u.label}: ${text}`}>
      <div data-testid={testId} style={{ minWidth: 150 }}>
        <Progress percent={u.percent} size="small" status={u.percent >= 100 ? "exception" : "normal"} style={{ marginBottom: 0 }} />
        <div style={{ fontSize: 12, color: "rgba(0,0,0,0.45)" }}>{money ? text : `${u.label} ${text}`}</div>
      </div>
    </Tooltip>
  );
}

function ActivityList() {
  const { t } = useI18n();
  const [rows, setRows] = useState<Activity[] | null>(null);
  const [stats, setStats] = useState<Record<string, Stats>>({});
  const [benefits, setBenefits] = useState<BenefitRow[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const load = () => {
    get<BenefitRow[]>("/api/v1/benefits").then(setBenefits, () => setBenefits([]));
    return get<Activity[]>("/api/v1/activities").then((rs) => {
      setRows(rs);
      for (const r of rs)
        get<Stats>(`/api/v1/activities/${encodeURIComponent(r.id)}/stats`).then(
          (s) => setStats((old) => ({ ...old, [r.id]: s })),
          () => undefined,
        );
    }, setError);
  };
  useEffect(() => {
    void load();
  }, []);
  const act = async (id: string, action: string) => {
    setBusy(`${id}/${action}`);
    setError(null);
    try {
      await post(`/api/v1/activities/${encodeURIComponent(id)}/${action}`);
      await load();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };
  return (
    <>
      <ErrorNote error={error} />
      <Table<Activity>
        size="small"
        rowKey="id"
        loading={!rows && !error}
        dataSource={rows ?? []}
        data-testid="activity-table"
        locale={{ emptyText: t("暂无活动：点击右上角从模板创建") }}
        columns={[
          { title: t("名称"), dataIndex: "name", render: (v: string, r) => <span data-testid={`activity-${r.id}`}>{v}</span> },
          { title: t("类型"), dataIndex: "template", render: (v: string) => (v in TEMPLATE_ZH ? t(TEMPLATE_ZH[v as TemplateKind][0]) : v) },
          { title: t("状态"), dataIndex: "status", render: (v: string, r) => <Tag color={STATUS_COLOR[v] ?? "default"} data-testid={`activity-status-${r.id}`}>{t(statusLabel(v))}</Tag> },
          { title: t("活动时间"), key: "window", render: (_: unknown, r) => `${when(r.definition.starts_at)} ~ ${when(r.definition.ends_at)}` },
          { title: t("参与人数"), key: "participants", render: (_: unknown, r) => stats[r.id]?.participants?.toLocaleString() ?? "—" },
          {
            title: t("库存"),
            key: "stock",
            render: (_: unknown, r) => {
              const u = activityUsage(r, stats[r.id], benefits).stock;
              return u.length ? (
                <Space direction="vertical" size={2}>
                  {u.map((x, i) => (
                    <Bar key={i} u={x} testId={`stock-${r.id}`} />
                  ))}
                </Space>
              ) : (
                t("不限")
              );
            },
          },
          {
            title: t("预算"),
            key: "budget",
            render: (_: unknown, r) => {
              const u = activityUsage(r, stats[r.id], benefits).budget;
              return u ? <Bar u={u} money testId={`budget-${r.id}`} /> : t("不限");
            },
          },
          {
            title: t("操作"),
            key: "actions",
            render: (_: unknown, r) => (
              <Space size={4}>
                {(ACTIONS_BY_STATUS[r.status] ?? []).map(([action, label]) => (
                  <Button
                    key={action}
                    size="small"
                    danger={action === "reject" || action === "finish"}
                    loading={busy === `${r.id}/${action}`}
                    onClick={() => void act(r.id, action)}
                    data-testid={`activity-${action}-${r.id}`}
                  >
                    {t(label)}
                  </Button>
                ))}
              </Space>
            ),
          },
        ]}
      />
    </>
  );
}

const RISK_ACTION_ZH: Record<string, [string, string]> = { block: ["拦截", "red"], challenge: ["需验证", "orange"], allow: ["放行", "green"] };

function RiskQueue() {
  const { t } = useI18n();
  const [rows, setRows] = useState<Decision[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState<"open" | "released">("open");
  const load = (s: string) => get<Decision[]>(`/api/v1/risk/decisions?status=${s}`).then(setRows, setError);
  useEffect(() => {
    setRows(null);
    void load(status);
  }, [status]);
  const release = async (id: number) => {
    setError(null);
    try {
      await post(`/api/v1/risk/decisions/${id}/release`);
      await load(status);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <>
      <Tabs
        size="small"
        activeKey={status}
        onChange={(k) => setStatus(k as "open" | "released")}
        items={[
          { key: "open", label: t("待审核") },
          { key: "released", label: t("已放行") },
        ]}
      />
      <ErrorNote error={error} />
      <Table<Decision>
        size="small"
        rowKey="id"
        loading={!rows && !error}
        dataSource={rows ?? []}
        data-testid="risk-table"
        locale={{ emptyText: t("暂无待审核的风险拦截") }}
        columns={[
          { title: t("时间"), dataIndex: "at", render: (v: string) => when(v) },
          { title: t("活动"), dataIndex: "activity_id" },
          { title: t("客户号"), dataIndex: "customer_id", render: (v: number) => <Link to={`/customers/${v}`}>{v}</Link> },
          { title: t("设备"), dataIndex: "device_id", render: (v: string | null) => v ?? "—" },
          { title: "IP", dataIndex: "ip", render: (v: string | null) => v ?? "—" },
          {
            title: t("处置"),
            dataIndex: "action",
            render: (v: string) => <Tag color={RISK_ACTION_ZH[v]?.[1] ?? "default"}>{t(RISK_ACTION_ZH[v]?.[0] ?? v)}</Tag>,
          },
          { title: t("风险分"), dataIndex: "score" },
          { title: t("命中规则"), dataIndex: "rules", render: (v: unknown) => firedRules(v) },
          {
            title: t("操作"),
            key: "release",
            render: (_: unknown, r) =>
              r.status === "open" ? (
                <Button size="small" onClick={() => void release(r.id)} data-testid={`risk-release-${r.id}`}>
                  {t("释放")}
                </Button>
              ) : (
                `${t("已放行")} · ${r.reviewed_by ?? ""}`
              ),
          },
        ]}
      />
    </>
  );
}

export default function Activities() {
  const { t } = useI18n();
  return (
    <Card
      title={t("活动中心")}
      extra={
        <Link to="/activities/new" data-testid="activity-new">
          <Button type="primary">{t("从模板创建活动")}</Button>
        </Link>
      }
    >
      <Tabs
        items={[
          { key: "list", label: t("活动列表"), children: <ActivityList /> },
          { key: "risk", label: t("风险审核"), children: <RiskQueue /> },
        ]}
      />
    </Card>
  );
}
