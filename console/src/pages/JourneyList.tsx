// Journey list (旅程列表): every journey with its latest version's status, owner and last
// change, filtered by status and paged by the API; a row opens the journey on the canvas.
import { useEffect, useState } from "react";
import { useNavigate } from "react-router-dom";
import { Button, Card, Select, Space, Table, Tag } from "antd";
import { PlusOutlined } from "@ant-design/icons";
import { get } from "../api";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";
import { statusLabel } from "../journey";

interface Item {
  journey_id: string;
  name: string;
  status: string;
  version: number;
  running_version: number | null;
  owner: string;
  updated_at: string;
}

export const STATUSES = ["draft", "submitted", "approved", "running", "paused", "finished", "archived"];
const COLOR: Record<string, string> = { draft: "default", submitted: "orange", approved: "cyan", running: "green", paused: "gold", finished: "purple" };
const PAGE = 20;

export default function JourneyList() {
  const { t } = useI18n();
  const nav = useNavigate();
  const [status, setStatus] = useState<string | undefined>(undefined);
  const [page, setPage] = useState(1);
  const [data, setData] = useState<{ total: number; items: Item[] } | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String((page - 1) * PAGE) });
    if (status) q.set("status", status);
    setError(null);
    get<{ total: number; items: Item[] }>(`/api/v1/journeys?${q}`).then(setData, setError);
  }, [status, page]);
  return (
    <Card
      title={t("旅程列表")}
      extra={
        <Space>
          <Select
            allowClear
            placeholder={t("按状态筛选")}
            style={{ width: 150 }}
            value={status}
            data-testid="journey-status-filter"
            onChange={(v) => {
              setStatus(v);
              setPage(1);
            }}
            options={STATUSES.map((s) => ({ value: s, label: t(statusLabel(s)) }))}
          />
          <Button type="primary" icon={<PlusOutlined />} onClick={() => nav("/journeys/new")} data-testid="journey-new">
            {t("新建旅程")}
          </Button>
        </Space>
      }
    >
      <ErrorNote error={error} />
      <Table<Item>
        size="small"
        rowKey="journey_id"
        loading={!data && !error}
        dataSource={data?.items ?? []}
        data-testid="journey-table"
        locale={{ emptyText: t("暂无数据") }}
        onRow={(r) => ({ onClick: () => nav(`/journeys/${encodeURIComponent(r.journey_id)}`), style: { cursor: "pointer" } })}
        pagination={{ current: page, pageSize: PAGE, total: data?.total ?? 0, onChange: setPage, showSizeChanger: false }}
        columns={[
          { title: t("旅程名称"), dataIndex: "name", render: (v: string, r) => <a data-testid={`journey-row-${r.journey_id}`}>{v}</a> },
          { title: t("旅程编号"), dataIndex: "journey_id" },
          { title: t("状态"), dataIndex: "status", render: (v: string) => <Tag color={COLOR[v] ?? "default"}>{t(statusLabel(v))}</Tag> },
          { title: t("最新版本"), dataIndex: "version", render: (v: number) => `v${v}` },
          { title: t("运行版本"), dataIndex: "running_version", render: (v: number | null) => (v ? `v${v}` : "—") },
          { title: t("负责人"), dataIndex: "owner" },
          { title: t("更新时间"), dataIndex: "updated_at", render: (v: string) => v.replace("T", " ").slice(0, 19) },
        ]}
      />
    </Card>
  );
}
