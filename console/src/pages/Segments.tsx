// Visual segment builder (客群圈选): nested and/or groups, field pickers, live count.
import { createContext, useContext, useEffect, useRef, useState } from "react";
import { Button, Card, Col, Dropdown, Input, InputNumber, Row, Select, Space, Statistic, Table, Typography } from "antd";
import { DeleteOutlined, PlusOutlined } from "@ant-design/icons";
import { api, get, post } from "../api";
import { Chart } from "../components/Chart";
import "../components/charts-extra";
import { ErrorNote } from "../components/Missing";
import { useI18n } from "../i18n";
import type { TagInfo } from "../insight";
import {
  FIELD_LABELS,
  FIELDS,
  OPS,
  attribute,
  behaviour,
  fromDocument,
  group,
  tagCondition,
  tagOps,
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
/** The tag catalogue, loaded once by the page, for every tag condition's picker. */
const TagsCtx = createContext<TagInfo[]>([]);
const OP_ZH: Record<string, string> = { has_value: "有值", in: "属于", not_in: "不属于" };

function TagValueInput({ node, info, onChange }: { node: Extract<Node, { kind: "tag" }>; info: TagInfo | undefined; onChange: (v: Value) => void }) {
  const { t } = useI18n();
  if (node.op === "has_value") return null;
  const dist = info?.last_run?.distribution.labels;
  const labels = dist && typeof dist === "object" ? Object.keys(dist as Record<string, number>) : [];
  if (info?.value_type === "bool")
    return (
      <Select
        style={{ width: 100 }}
        value={node.value === true ? "true" : node.value === false ? "false" : undefined}
        options={[
          { value: "true", label: t("是") },
          { value: "false", label: t("否") },
        ]}
        onChange={(v) => onChange(v === "true")}
        data-testid="tag-value"
      />
    );
  if (info?.value_type === "number")
    return (
      <InputNumber style={{ width: 140 }} value={typeof node.value === "number" ? node.value : null} onChange={(v) => onChange(v)} data-testid="tag-value" />
    );
  const multi = node.op === "in" || node.op === "not_in";
  return (
    <Select
      mode={multi ? "tags" : undefined}
      showSearch
      style={{ minWidth: 160 }}
      value={multi ? (Array.isArray(node.value) ? node.value.map(String) : []) : typeof node.value === "string" ? node.value : undefined}
      options={labels.map((l) => ({ value: l, label: l }))}
      onChange={(v: string | string[]) => onChange(v)}
      data-testid="tag-value"
    />
  );
}
const CONDITION_KIND_ZH: Record<string, string> = { attribute: "属性条件", txn_aggregate: "交易条件", behaviour: "行为条件", tag: "标签条件", segment: "客群条件" };

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
                { key: "tag", label: t("标签条件"), onClick: () => add(tagCondition()) },
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
          style={{ width: 210 }}
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
        <span>{t("近")}</span>
        <InputNumber size="small" min={1} max={3660} value={node.last_days} onChange={(v) => patch({ last_days: v ?? 30 } as Partial<Node>)} />
        <span>{t("天")}</span>
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
  if (node.kind === "tag") return <TagCondition node={node} patch={patch} remove={remove} />;
  if (node.kind !== "behaviour") return null;
  return (
    <Space style={{ display: "flex", margin: "4px 0" }} wrap>
      <span>{t("近")}</span>
      <InputNumber size="small" min={1} max={3660} value={node.last_days} onChange={(v) => patch({ last_days: v ?? 30 } as Partial<Node>)} />
      <span>{t("天 事件")}</span>
      <Input size="small" style={{ width: 160 }} placeholder="fund_detail_view" value={node.event} onChange={(e) => patch({ event: e.target.value } as Partial<Node>)} />
      <Select size="small" style={{ width: 70 }} value={node.op} options={COMPARE.map((o) => ({ value: o, label: o }))} onChange={(op) => patch({ op } as Partial<Node>)} />
      <InputNumber size="small" min={0} value={node.count} onChange={(v) => patch({ count: v ?? 0 } as Partial<Node>)} />
      <span>{t("次")}</span>
      {remove}
    </Space>
  );
}

function TagCondition({ node, patch, remove }: { node: Extract<Node, { kind: "tag" }>; patch: (p: Partial<Node>) => void; remove: JSX.Element }) {
  const { t } = useI18n();
  const tags = useContext(TagsCtx);
  const info = tags.find((x) => x.name === node.tag);
  return (
    <Space style={{ display: "flex", margin: "4px 0" }} wrap data-testid="seg-tag">
      <span>{t("标签")}</span>
      <Select
        showSearch
        style={{ width: 200 }}
        placeholder={tags.length ? t("选择标签") : t("暂无标签")}
        value={node.tag || undefined}
        optionFilterProp="label"
        options={tags.map((x) => ({ value: x.name, label: `${x.title || x.name} (${x.name})` }))}
        onChange={(tag: string) => {
          const vt = tags.find((x) => x.name === tag)?.value_type;
          patch({ tag, op: tagOps(vt)[0], value: vt === "bool" ? true : null } as Partial<Node>);
        }}
        data-testid="tag-pick"
      />
      <Select
        style={{ width: 100 }}
        value={node.op}
        options={tagOps(info?.value_type).map((o) => ({ value: o, label: OP_ZH[o] ? t(OP_ZH[o]) : o }))}
        onChange={(op: string) => patch({ op, value: op === "has_value" ? null : info?.value_type === "bool" ? true : null } as Partial<Node>)}
        data-testid="tag-op"
      />
      <TagValueInput node={node} info={info} onChange={(value) => patch({ value } as Partial<Node>)} />
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
  const [tags, setTags] = useState<TagInfo[]>([]);
  useEffect(() => {
    get<TagInfo[]>("/api/v1/tags").then(setTags, () => setTags([])); // no tags: the picker says so
  }, []);
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
    <TagsCtx.Provider value={tags}>
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
          <details style={{ marginTop: 12 }}>
            <summary style={{ cursor: "pointer", color: "rgba(0,0,0,0.45)" }}>{t("查看客群定义 (JSON)")}</summary>
            <pre style={{ fontSize: 11, maxHeight: 200, overflow: "auto" }} data-testid="segment-json">
              {JSON.stringify(doc, null, 1)}
            </pre>
          </details>
        </Card>
      </Col>
      <Col span={9}>
        <Card title={t("预计人数")} loading={false}>
          <ErrorNote error={error} />
          <Statistic value={preview?.count ?? "—"} loading={busy && !preview} data-testid="segment-count" />
          {preview && (
            <>
              <Typography.Text type="secondary">
                {t("数据截至")} {preview.as_of}
              </Typography.Text>
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
                  { title: t("类型"), dataIndex: "kind", render: (k: string) => t(CONDITION_KIND_ZH[k] ?? k) },
                  { title: t("人数"), dataIndex: "count" },
                ]}
              />
            </>
          )}
        </Card>
      </Col>
    </Row>
    </TagsCtx.Provider>
  );
}
