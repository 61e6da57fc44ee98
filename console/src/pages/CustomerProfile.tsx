// The 360° profile (客户360): attributes (masked PII), AUM trend, holdings, tags, lifecycle,
// events timeline, transactions, segments, model scores and contact history — whatever the
// server's GET /api/v1/customers/{id} returns; sections it does not return are left out.
import { useEffect, useState } from "react";
import { Alert, Card, Col, Descriptions, Empty, Row, Skeleton, Table, Tag, Timeline } from "antd";
import { useParams } from "react-router-dom";
import { get } from "../api";
import { Chart } from "../components/Chart";
import { ErrorNote } from "../components/Missing";
import { bigNumber } from "../format";
import { useI18n } from "../i18n";
import { cellText, columnTitle, reasonsText, STAGE_ZH } from "../labels";
import type { Customer } from "./Customers";

type Row = Record<string, unknown>;
interface Profile extends Customer {
  tags?: Row[];
  holdings?: Row[];
  aum_trend?: Row[];
  recent_events?: Row[];
  recent_transactions?: Row[];
  segments?: Row[];
  lifecycle?: Row | null;
  model_scores?: Row[];
  contacts?: Row[] | null;
  past_contacts?: Row[] | null;
}

const show = (v: unknown) => (v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v));

function RowsTable({ rows, testId }: { rows: Row[]; testId?: string }) {
  const { t } = useI18n();
  if (!rows.length) return <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t("暂无数据")} />;
  const cols = Object.keys(rows[0]).slice(0, 8);
  return (
    <Table
      size="small"
      data-testid={testId}
      rowKey={(_, i) => String(i)}
      dataSource={rows}
      pagination={rows.length > 10 ? { pageSize: 10 } : false}
      scroll={{ x: "max-content" }}
      columns={cols.map((k) => ({ title: columnTitle(k, t), dataIndex: k, render: (v: unknown) => cellText(k, v, t) }))}
    />
  );
}

/** Model scores with their top reasons as "feature = value" (the raw JSON is unreadable). */
function ScoresTable({ rows }: { rows: Row[] }) {
  const { t } = useI18n();
  if (!rows.length) return <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t("暂无数据")} />;
  return (
    <Table
      size="small"
      data-testid="profile-scores"
      rowKey={(_, i) => String(i)}
      dataSource={rows}
      pagination={false}
      columns={[
        { title: t("模型"), dataIndex: "model", render: (v: unknown) => <span style={{ whiteSpace: "nowrap" }}>{cellText("model", v, t)}</span> },
        { title: t("评分"), dataIndex: "score", render: (v: unknown) => (typeof v === "number" ? v.toFixed(3) : show(v)) },
        { title: t("等级"), dataIndex: "band", render: (v: unknown) => cellText("band", v, t) },
        { title: t("主要原因"), dataIndex: "reasons", render: (v: unknown) => reasonsText(v, t) },
        { title: t("评分时间"), dataIndex: "scored_at", render: (v: unknown) => show(v).replace("T", " ").slice(0, 16) },
      ]}
    />
  );
}

export default function CustomerProfile() {
  const { t, lang } = useI18n();
  const { id } = useParams();
  const [c, setC] = useState<Profile | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [contacts, setContacts] = useState<Row[] | null>(null);
  useEffect(() => {
    setC(null);
    setError(null);
    get<Profile>(`/api/v1/customers/${encodeURIComponent(id ?? "")}`).then((p) => {
      setC(p);
      if (p.contacts !== undefined) setContacts(p.contacts ?? null);
      else get<Row[]>(`/api/v1/contacts?customer_id=${encodeURIComponent(id ?? "")}&limit=50`).then(setContacts, () => setContacts(null));
    }, setError);
  }, [id]);
  if (error) return <ErrorNote error={error} />;
  if (!c) return <Skeleton active />;
  const trend = c.aum_trend ?? [];
  const stage = c.lifecycle ? `${t(STAGE_ZH[show(c.lifecycle.stage)] ?? show(c.lifecycle.stage))} · ${show(c.lifecycle.tier)}` : null;
  return (
    <Row gutter={[16, 16]} data-testid="profile">
      <Col span={24}>
        <Card
          title={`${t("客户360")} · ${c.customer_id}`}
          extra={
            <>
              {stage && <Tag color="purple">{stage}</Tag>}
              {(c.tags ?? []).map((tag, i) => (
                <Tag key={i} color="geekblue">
                  {show(tag.name ?? tag.tag_id ?? tag.tag)}
                  {tag.value !== undefined ? `: ${show(tag.value)}` : ""}
                </Tag>
              ))}
            </>
          }
        >
          <Descriptions column={4} size="small" bordered>
            <Descriptions.Item label={t("姓名")}>{c.name ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("手机")}>{c.phone ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("邮箱")}>{c.email ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("证件号")}>{c.id_number ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("性别")}>{c.gender ? cellText("gender", c.gender, t) : "—"}</Descriptions.Item>
            <Descriptions.Item label={t("城市")}>{c.city ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("机构")}>{c.org_path}</Descriptions.Item>
            <Descriptions.Item label={t("客户经理")}>{c.rm_id ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("风险等级")}>{c.kyc_risk_level ?? "—"}</Descriptions.Item>
            <Descriptions.Item label={t("开户日期")}>{c.opened_on}</Descriptions.Item>
            <Descriptions.Item label={t("状态")} span={2}>
              {c.is_active ? <Tag color="green">{t("正常")}</Tag> : <Tag>{t("流失客户")}</Tag>}
              {c.dnd && <Tag color="orange">{t("免打扰")}</Tag>}
            </Descriptions.Item>
          </Descriptions>
        </Card>
      </Col>
      {trend.length > 0 && (
        <Col span={14}>
          <Card title={t("资产规模趋势")}>
            <Chart
              testId="chart-profile-aum"
              height={260}
              option={{
                tooltip: { trigger: "axis" },
                legend: {},
                grid: { left: 70, right: 20, top: 40, bottom: 30 },
                xAxis: { type: "category", data: trend.map((r) => show(r.month).slice(0, 7)) },
                yAxis: { type: "value", axisLabel: { formatter: (v: number) => bigNumber(v, lang) } },
                series: [
                  ...(
                    [
                      ["deposit_balance", "存款"],
                      ["wealth_balance", "理财"],
                      ["insurance_value", "保险"],
                    ] as const
                  )
                    .filter(([k]) => k in trend[0])
                    .map(([k, label]) => ({ type: "bar" as const, stack: "aum", name: t(label), data: trend.map((r) => Number(r[k] ?? 0)) })),
                  { type: "line" as const, name: t("资产规模"), data: trend.map((r) => Number(r.aum ?? 0)) },
                ],
              }}
            />
          </Card>
        </Col>
      )}
      {c.recent_events !== undefined && (
        <Col span={trend.length > 0 ? 10 : 24}>
          <Card title={t("行为轨迹")} style={{ maxHeight: 370, overflow: "auto" }}>
            {c.recent_events.length ? (
              <Timeline
                items={c.recent_events.slice(0, 20).map((e) => ({
                  children: `${show(e.ts).replace("T", " ").slice(0, 16)}  ${show(e.event)}`,
                }))}
              />
            ) : (
              <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t("暂无数据")} />
            )}
          </Card>
        </Col>
      )}
      {c.holdings !== undefined && (
        <Col span={12}>
          <Card title={t("持有产品")}>
            <RowsTable rows={c.holdings} testId="holdings" />
          </Card>
        </Col>
      )}
      {c.recent_transactions !== undefined && (
        <Col span={12}>
          <Card title={t("近期交易")}>
            <RowsTable rows={c.recent_transactions} />
          </Card>
        </Col>
      )}
      {c.segments !== undefined && (
        <Col span={12}>
          <Card title={t("所属客群")}>
            <RowsTable rows={c.segments} />
          </Card>
        </Col>
      )}
      {c.model_scores !== undefined && (
        <Col span={12}>
          <Card title={t("模型评分")}>
            <ScoresTable rows={c.model_scores} />
          </Card>
        </Col>
      )}
      <Col span={24}>
        <Card title={t("接触历史")}>
          {contacts === null ? (
            <Alert type="info" showIcon message={t("无权查看接触历史（需要 contact:read 权限）")} />
          ) : (
            <Row gutter={16}>
              <Col span={12}>
                <div style={{ fontWeight: 500, marginBottom: 8 }}>{t("本平台触达")}</div>
                <RowsTable rows={contacts} testId="profile-contacts" />
              </Col>
              <Col span={12}>
                <div style={{ fontWeight: 500, marginBottom: 8 }}>{t("历史营销接触")}</div>
                <RowsTable rows={c.past_contacts ?? []} testId="profile-past-contacts" />
              </Col>
            </Row>
          )}
        </Card>
      </Col>
    </Row>
  );
}
