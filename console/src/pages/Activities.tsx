// Activities (活动中心): the list with stock/budget usage bars and the risk review queue.
import { useEffect, useState } from "react";
import { Button, Card, Progress, Table, Tabs, Tag } from "antd";
import { Link } from "react-router-dom";
import { get, post } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";

type Row = Record<string, unknown>;

/** Share used of a limit, or null when the activity has no such limit. */
export function usage(used: unknown, limit: unknown): number | null {
  const u = Number(used);
  const l = Number(limit);
  if (!Number.isFinite(u) || !Number.isFinite(l) || l <= 0) return null;
  return Math.min(100, Math.round((u / l) * 1000) / 10);
}

function ActivityList() {
  const { t } = useI18n();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [stats, setStats] = useState<Record<string, Row>>({});
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    get<Row[]>("/api/v1/activities").then((rs) => {
      setRows(rs);
      for (const r of rs)
        get<Row>(`/api/v1/activities/${encodeURIComponent(String(r.activity_id ?? r.id))}/stats`).then(
          (s) => setStats((old) => ({ ...old, [String(r.activity_id ?? r.id)]: s })),
          () => undefined,
        );
    }, setError);
  }, []);
  return (
    <>
      <ErrorNote error={error} />
      <Table<Row>
        size="small"
        rowKey={(r) => String(r.activity_id ?? r.id)}
        loading={!rows && !error}
        dataSource={rows ?? []}
        locale={{ emptyText: t("暂无数据") }}
        columns={[
          { title: "id", render: (_, r) => String(r.activity_id ?? r.id) },
          { title: t("名称"), render: (_, r) => String(r.name ?? "") },
          { title: t("类型"), render: (_, r) => String(r.template ?? r.kind ?? "") },
          { title: t("状态"), render: (_, r) => <Tag>{String(r.status ?? "")}</Tag> },
          {
            title: t("库存"),
            render: (_, r) => {
              const s = stats[String(r.activity_id ?? r.id)] ?? {};
              const p = usage(s.issued ?? s.stock_used, s.stock ?? r.stock);
              return p === null ? "—" : <Progress percent={p} size="small" />;
            },
          },
          {
            title: t("预算"),
            render: (_, r) => {
              const s = stats[String(r.activity_id ?? r.id)] ?? {};
              const p = usage(s.spent_cents ?? s.budget_used_cents, s.budget_cents ?? r.budget_cents);
              return p === null ? "—" : <Progress percent={p} size="small" status="active" />;
            },
          },
        ]}
      />
    </>
  );
}

function RiskQueue() {
  const { t } = useI18n();
  const [rows, setRows] = useState<Row[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const load = () => get<Row[]>("/api/v1/risk/decisions?status=open").then(setRows, setError);
  useEffect(() => {
    load();
  }, []);
  const release = async (id: unknown) => {
    try {
      await post(`/api/v1/risk/decisions/${encodeURIComponent(String(id))}/release`);
      await load();
    } catch (e) {
      setError(e);
    }
  };
  const cols = rows && rows.length ? Object.keys(rows[0]).filter((k) => k !== "id").slice(0, 6) : [];
  return (
    <>
      <ErrorNote error={error} />
      <Table<Row>
        size="small"
        rowKey={(r) => String(r.id)}
        loading={!rows && !error}
        dataSource={rows ?? []}
        locale={{ emptyText: t("暂无数据") }}
        columns={[
          { title: "id", dataIndex: "id" },
          ...cols.map((k) => ({ title: k, dataIndex: k, render: (v: unknown) => (typeof v === "object" ? JSON.stringify(v) : String(v ?? "")) })),
          { title: "", render: (_: unknown, r: Row) => <Button size="small" onClick={() => release(r.id)}>{t("释放")}</Button> },
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
