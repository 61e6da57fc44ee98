// Visual segment builder (客群圈选): nested and/or groups, field pickers, live count.
import { useEffect, useRef, useState } from "react";
import { Button, Card, Col, Dropdown, Input, InputNumber, Row, Select, Space, Statistic, Table, Typography } from "antd";
import { DeleteOutlined, PlusOutlined } from "@ant-design/icons";
import { api, get, post } from "../api";
import { Chart } from "../components/Chart";
import "../components/charts-extra";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";
import {
  FIELD_LABELS,
  FIELDS,
  OPS,
  attribute,
  behaviour,
  fromDocument,
  group,
  toDocument,
  txn,
  update,
  type Node,
  type Value,
} from "../segment";

export interface Preview {
  count: number;
  as_of: string;
  by_branch: { branch: string; count: number }[];
  by_condition: { where: string; kind: string; count: number }[];
  sample: Record<string, unknown>[];
}

/** The preview endpoint of the insight API (POST /api/v1/segments/preview). */
export async function previewSegment(doc: Record<string, unknown>): Promise<Preview> {
  return post<Preview>("/api/v1/segments/preview", { definition: doc, sample: 0 });
}

const COMPARE = ["=", "!=", ">", ">=", "<", "<="];

function ValueInput({ node, onChange }: { node: Extract<Node, { kind: "attribute" }>; onChange: (v: Value) => void }) {
  const type = FIELDS[node.field];
  if (node.op === "is_null" || node.op === "is_not_null") return null;
  if (node.op === "in" || node.op === "not_in" || node.op === "between") {
    return (
      <Select
        mode="tags"
        style={{ minWidth: 200 }}
        value={Array.isArray(node.value) ? node.value.map(String) : []}
        onChange={(v: string[]) => onChange(v)}
        placeholder={node.op === "between" ? "low, high" : "…"}
        data-testid="cond-values"
      />
    );
  }
  if (type === "bool")
    return (
      <Select
        style={{ width: 100 }}
        value={node.value === null ? undefined : String(node.value)}
        options={[
          { value: "true", label: "是/true" },
          { value: "false", label: "否/false" },
        ]}
        onChange={(v) => onChange(v)}
      />
    );
  if (type === "int" || type === "float")
    return (
      <InputNumber
        style={{ width: 140 }}
        value={typeof node.value === "number" ? node.value : node.value === null ? null : Number(node.value)}
        onChange={(v) => onChange(v)}
        data-testid="cond-value"
      />
    );
  return (
    <Input
      style={{ width: 160 }}
      placeholder={type === "date" ? "YYYY-MM-DD" : ""}
      value={node.value === null ? "" : String(node.value)}
      onChange={(e) => onChange(e.target.value)}
      data-testid="cond-value"
    />
  );
}

function Condition({ node, set }: { node: Node; set: (id: string, fn: (n: Node) => Node | null) => void }) {
  const { t } = useI18n();
  const patch = (p: Partial<Node>) => set(node.id, (n) => ({ ...n, ...p }) as Node);
  const remove = <Button size="small" type="text" icon={<DeleteOutlined />} onClick={() => set(node.id, () => null)} />;
  if (node.kind === "and" || node.kind === "or") {
    const add = (child: Node) => set(node.id, (n) => ({ ...n, children: [...(n as typeof node).children, child] }) as Node);
    return (
      <div
        data-testid="seg-group"
        style={{ borderLeft: `3px solid ${node.kind === "and" ? "#1677ff" : "#fa8c16"}`, padding: "6px 0 6px 12px", margin: "6px 0" }}
      >
        <Space>
          <Select
            size="small"
            value={node.kind}
            style={{ width: 90 }}
            options={[
              { value: "and", label: t("且") },
              { value: "or", label: t("或") },
            ]}
            onChange={(k) => patch({ kind: k } as Partial<Node>)}
          />
          <Dropdown
            menu={{
              items: [
                { key: "attr", label: t("属性条件"), onClick: () => add(attribute()) },
                { key: "txn", label: t("交易条件"), onClick: () => add(txn()) },
                { key: "beh", label: t("行为条件"), onClick: () => add(behaviour()) },
                { key: "grp", label: t("添加条件组"), onClick: () => add(group("or")) },
              ],
            }}
          >
            <Button size="small" icon={<PlusOutlined />} data-testid="add-condition">
              {t("添加条件")}
            </Button>
          </Dropdown>
          {remove}
        </Space>
        {node.children.map((c) => (
          <Condition key={c.id} node={c} set={set} />
        ))}
      </div>
    );
  }
  if (node.kind === "attribute") {
    const type = FIELDS[node.field];
    return (
      <Space style={{ display: "flex", margin: "4px 0" }} data-testid="seg-attribute">
        <Select
          showSearch
          style={{ width: 150 }}
          value={node.field}
          options={Object.keys(FIELDS).map((f) => ({ value: f, label: `${t(FIELD_LABELS[f] ?? f)} (${f})` }))}
          onChange={(f) => patch({ field: f, op: OPS[FIELDS[f]][0], value: null } as Partial<Node>)}
          data-testid="cond-field"
        />
        <Select
          style={{ width: 110 }}
          value={node.op}
          options={OPS[type].map((o) => ({ value: o, label: o }))}
          onChange={(op) => patch({ op, value: null } as Partial<Node>)}
          data-testid="cond-op"
        />
        <ValueInput node={node} onChange={(value) => patch({ value } as Partial<Node>)} />
        {remove}
      </Space>
    );
  }
  if (node.kind === "txn_aggregate") {
    return (
      <Space style={{ display: "flex", margin: "4px 0" }} wrap>
        <span>近</span>
        <InputNumber size="small" min={1} max={3660} value={node.last_days} onChange={(v) => patch({ last_days: v ?? 30 } as Partial<Node>)} />
        <span>天</span>
        <Select
          size="small"
          style={{ width: 90 }}
          value={node.direction}
          options={[
            { value: "out", label: "流出/out" },
            { value: "in", label: "流入/in" },
            { value: "", label: "全部/all" },
          ]}
          onChange={(direction) => patch({ direction } as Partial<Node>)}
        />
        <Select
          size="small"
          style={{ width: 90 }}
          value={node.agg}
          options={["sum", "count", "avg", "max"].map((a) => ({ value: a, label: a }))}
          onChange={(agg) => patch({ agg } as Partial<Node>)}
        />
        <Select size="small" style={{ width: 70 }} value={node.op} options={COMPARE.map((o) => ({ value: o, label: o }))} onChange={(op) => patch({ op } as Partial<Node>)} />
        <InputNumber size="small" value={node.value} onChange={(v) => patch({ value: v } as Partial<Node>)} />
        {remove}
      </Space>
    );
  }
  if (node.kind !== "behaviour") return null;
  return (
    <Space style={{ display: "flex", margin: "4px 0" }} wrap>
      <span>近</span>
      <InputNumber size="small" min={1} max={3660} value={node.last_days} onChange={(v) => patch({ last_days: v ?? 30 } as Partial<Node>)} />
      <span>天 事件</span>
      <Input size="small" style={{ width: 160 }} placeholder="fund_detail_view" value={node.event} onChange={(e) => patch({ event: e.target.value } as Partial<Node>)} />
      <Select size="small" style={{ width: 70 }} value={node.op} options={COMPARE.map((o) => ({ value: o, label: o }))} onChange={(op) => patch({ op } as Partial<Node>)} />
      <InputNumber size="small" min={0} value={node.count} onChange={(v) => patch({ count: v ?? 0 } as Partial<Node>)} />
      <span>次</span>
      {remove}
    </Space>
  );
}

interface Saved {
  segment_id: string;
  name: string;
  version: number;
  definition: { name: string; root: unknown };
}

/** Open a saved segment, save a new one, or save the open one as its next version. */
function SaveBar({ doc, onOpen }: { doc: Record<string, unknown> | null; onOpen: (s: Saved) => void }) {
  const { t } = useI18n();
  const [items, setItems] = useState<Saved[]>([]);
  const [open, setOpen] = useState<Saved | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [newId, setNewId] = useState(() => `seg-${Date.now().toString(36)}`);
  const refresh = () => get<{ items: Saved[] }>("/api/v1/segments").then((r) => setItems(r.items), setError);
  useEffect(() => {
    refresh();
  }, []);
  const pick = async (id: string) => {
    setError(null);
    setNote(null);
    try {
      const s = await get<Saved>(`/api/v1/segments/${encodeURIComponent(id)}`);
      onOpen(s); // throws when the builder cannot edit one of its conditions
      setOpen(s);
    } catch (e) {
      setError(e);
    }
  };
  const save = async (asNew: boolean) => {
    if (!doc) return;
    setError(null);
    try {
      const s =
        asNew || !open
          ? await post<Saved>("/api/v1/segments", { definition: { ...doc, id: newId.trim() } })
          : await api<Saved>("PUT", `/api/v1/segments/${encodeURIComponent(open.segment_id)}`, {
              definition: { ...doc, id: open.segment_id },
            });
      setOpen(s);
      setNote(`${t("已保存")}: ${s.segment_id} v${s.version}`);
      await refresh();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Space direction="vertical" style={{ width: "100%", marginBottom: 8 }}>
      <Space wrap>
        <Select
          showSearch
          optionFilterProp="label"
          placeholder={t("打开已保存的客群")}
          style={{ width: 280 }}
          value={open?.segment_id}
          onChange={pick}
          data-testid="segment-open"
          options={items.map((s) => ({ value: s.segment_id, label: `${s.name} · v${s.version}` }))}
        />
        <span>{t("客群编码")}</span>
        <Input
          value={newId}
          onChange={(e) => setNewId(e.target.value)}
          style={{ width: 180 }}
          data-testid="segment-id"
        />
        <Button onClick={() => save(true)} disabled={!doc || !newId.trim()} data-testid="segment-save-new">
          {t("另存为新客群")}
        </Button>
        <Button type="primary" onClick={() => save(false)} disabled={!doc || !open} data-testid="segment-save-version">
          {t("保存为新版本")}
        </Button>
      </Space>
      {note && <Typography.Text type="success" data-testid="segment-saved">{note}</Typography.Text>}
      <ErrorNote error={error} />
    </Space>
  );
}

export default function Segments() {
  const { t } = useI18n();
  const [name, setName] = useState("理财潜客");
  const [root, setRoot] = useState<Node>(() => group("and", [attribute("kyc_risk_level", ">=", 3)]));
  const [preview, setPreview] = useState<Preview | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const seq = useRef(0);
  const doc = toDocument(name, root);
  const key = JSON.stringify(doc);
  useEffect(() => {
    if (!doc) return;
    const mine = ++seq.current;
    const timer = setTimeout(() => {
      setBusy(true);
      previewSegment(doc).then(
        (p) => mine === seq.current && (setPreview(p), setError(null)),
        (e) => mine === seq.current && setError(e),
      ).finally(() => mine === seq.current && setBusy(false));
    }, 400);
    return () => clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const set = (id: string, fn: (n: Node) => Node | null) => setRoot((r) => update(r, id, fn));
  return (
    <Row gutter={16}>
      <Col span={15}>
        <Card title={t("客群圈选")}>
          <Space style={{ marginBottom: 8 }}>
            <span>{t("客群名称")}</span>
            <Input value={name} onChange={(e) => setName(e.target.value)} style={{ width: 240 }} data-testid="segment-name" />
          </Space>
          <SaveBar
            doc={doc}
            onOpen={(saved) => {
              const back = fromDocument(saved.definition);
              setName(back.name);
              setRoot(back.root);
            }}
          />
          <Condition node={root} set={set} />
          <Typography.Paragraph type="secondary" style={{ marginTop: 12 }}>
            <pre style={{ fontSize: 11, maxHeight: 200, overflow: "auto" }}>{JSON.stringify(doc, null, 1)}</pre>
          </Typography.Paragraph>
        </Card>
      </Col>
      <Col span={9}>
        <Card title={t("预计人数")} loading={false}>
          <ErrorNote error={error} />
          <Statistic value={preview?.count ?? "—"} loading={busy && !preview} data-testid="segment-count" />
          {preview && (
            <>
              <Typography.Text type="secondary">as of {preview.as_of}</Typography.Text>
              <Chart
                testId="chart-branches"
                height={260}
                option={{
                  title: { text: t("按分行"), textStyle: { fontSize: 13 } },
                  tooltip: {},
                  grid: { left: 60, right: 10, top: 30, bottom: 30 },
                  xAxis: { type: "category", data: preview.by_branch.map((b) => b.branch) },
                  yAxis: { type: "value" },
                  series: [{ type: "bar", data: preview.by_branch.map((b) => b.count), itemStyle: { color: "#1677ff" } }],
                }}
              />
              <Table
                size="small"
                rowKey="where"
                pagination={false}
                dataSource={preview.by_condition}
                columns={[
                  { title: t("条件"), dataIndex: "where" },
                  { title: t("类型"), dataIndex: "kind" },
                  { title: t("人数"), dataIndex: "count" },
                ]}
              />
            </>
          )}
        </Card>
      </Col>
    </Row>
  );
}
