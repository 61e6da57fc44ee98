// Strategy canvas (策略画布): palette → React Flow canvas → side panel; validate, dry-run,
// submit and approve through the strategy API; counts and stats drawn on the nodes.
import { useCallback, useMemo, useState, type DragEvent } from "react";
import {
  Background,
  Controls,
  Handle,
  Position,
  ReactFlow,
  ReactFlowProvider,
  addEdge,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type Edge,
  type Node,
  type NodeProps,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css"; // only the canvas page pays for React Flow
import { Alert, Badge, Button, Card, Input, Space, Tag, Typography } from "antd";
import { ApiError, get, post } from "../api";
import { useI18n } from "../i18n";
import { GROUP_LABELS, KINDS, branches, freshId, nodeOfError, toJourney, type FlowEdge, type FlowNode, type Group } from "../journey";

interface Data extends Record<string, unknown> {
  kind: string;
  config: Record<string, unknown>;
  error?: string;
  counts?: Record<string, number>;
}
type JNode = Node<Data, "journey">;

const COLORS: Record<Group, string> = { entry: "#52c41a", judgment: "#fa8c16", control: "#1677ff", action: "#c8102e" };

function JourneyNode({ id, data, selected }: NodeProps<JNode>) {
  const { t } = useI18n();
  const spec = KINDS[data.kind];
  const outs = branches(data.kind, data.config);
  const color = COLORS[spec?.group ?? "action"];
  const counts = data.counts ?? {};
  return (
    <div
      data-testid={`node-${id}`}
      style={{
        border: `2px solid ${data.error ? "#ff4d4f" : selected ? "#000" : color}`,
        borderRadius: 8,
        background: "#fff",
        padding: "6px 10px",
        minWidth: 150,
        maxWidth: 260,
        fontSize: 12,
      }}
    >
      {spec?.group !== "entry" && <Handle type="target" position={Position.Top} />}
      <div style={{ color, fontWeight: 600 }}>{t(spec?.label ?? data.kind)}</div>
      <div style={{ color: "#888" }}>{id}</div>
      {Object.keys(counts).length > 0 && (
        <div data-testid={`counts-${id}`} style={{ marginTop: 4 }}>
          {Object.entries(counts).map(([k, v]) => (
            <Tag key={k} color="blue" style={{ fontSize: 11, marginBottom: 2 }}>
              {k}: {v}
            </Tag>
          ))}
        </div>
      )}
      {data.error && (
        <div data-testid={`error-${id}`} style={{ color: "#ff4d4f", maxWidth: 220 }}>
          {data.error}
        </div>
      )}
      {outs.map((b, i) => (
        <Handle
          key={b}
          id={b}
          type="source"
          position={Position.Bottom}
          style={{ left: `${((i + 1) / (outs.length + 1)) * 100}%`, background: color }}
          title={b}
        />
      ))}
      {outs.length > 1 && (
        <div style={{ display: "flex", justifyContent: "space-around", color: "#999", fontSize: 10, marginTop: 4 }}>
          {outs.map((b) => (
            <span key={b}>{b}</span>
          ))}
        </div>
      )}
    </div>
  );
}

const nodeTypes = { journey: JourneyNode };

function Palette({ onAdd }: { onAdd: (kind: string) => void }) {
  const { t } = useI18n();
  const groups = Object.keys(GROUP_LABELS) as Group[];
  return (
    <Card size="small" title={t("节点库")} style={{ width: 170 }} bodyStyle={{ padding: 8 }}>
      <Typography.Text type="secondary" style={{ fontSize: 11 }}>
        {t("拖动节点到画布")}
      </Typography.Text>
      {groups.map((g) => (
        <div key={g} style={{ marginTop: 8 }}>
          <div style={{ color: COLORS[g], fontWeight: 600 }}>{t(GROUP_LABELS[g])}</div>
          {Object.entries(KINDS)
            .filter(([, s]) => s.group === g)
            .map(([kind, s]) => (
              <div
                key={kind}
                draggable
                data-testid={`palette-${kind}`}
                onDragStart={(e) => {
                  e.dataTransfer.setData("application/opsloop-node", kind);
                  e.dataTransfer.effectAllowed = "move";
                }}
                onDoubleClick={() => onAdd(kind)}
                style={{ border: `1px solid ${COLORS[g]}`, borderRadius: 4, padding: "2px 6px", margin: "3px 0", cursor: "grab", fontSize: 12 }}
              >
                {t(s.label)}
              </div>
            ))}
        </div>
      ))}
    </Card>
  );
}

function SidePanel({
  node,
  onChange,
  onRename,
}: {
  node: JNode | null;
  onChange: (config: Record<string, unknown>) => void;
  onRename: (id: string) => void;
}) {
  const { t } = useI18n();
  const [text, setText] = useState("");
  const [bad, setBad] = useState<string | null>(null);
  const [shown, setShown] = useState<string | null>(null);
  if (node && node.id !== shown) {
    setShown(node.id);
    setText(JSON.stringify(node.data.config, null, 2));
    setBad(null);
  }
  if (!node) return <Card size="small" title={t("节点配置")} style={{ width: 300 }} />;
  return (
    <Card size="small" title={`${t("节点配置")} · ${t(KINDS[node.data.kind]?.label ?? node.data.kind)}`} style={{ width: 300 }}>
      <Space direction="vertical" style={{ width: "100%" }}>
        <Input
          addonBefore="id"
          defaultValue={node.id}
          key={node.id}
          onBlur={(e) => e.target.value && e.target.value !== node.id && onRename(e.target.value)}
          data-testid="node-id"
        />
        <Input.TextArea
          rows={14}
          value={text}
          style={{ fontFamily: "monospace", fontSize: 12 }}
          data-testid="node-config"
          onChange={(e) => {
            setText(e.target.value);
            try {
              const v = JSON.parse(e.target.value);
              if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("config is a JSON object");
              setBad(null);
              onChange(v);
            } catch (err) {
              setBad(err instanceof Error ? err.message : String(err));
            }
          }}
        />
        {bad && <Alert type="warning" message={bad} />}
        {node.data.error && <Alert type="error" message={node.data.error} />}
        <Typography.Text type="secondary" style={{ fontSize: 11 }}>
          branches: {branches(node.data.kind, node.data.config).join(", ") || "—"}
        </Typography.Text>
      </Space>
    </Card>
  );
}

function Canvas() {
  const { t } = useI18n();
  const flow = useReactFlow();
  const [nodes, setNodes, onNodesChange] = useNodesState<JNode>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [jid, setJid] = useState("welcome_journey");
  const [name, setName] = useState("新客欢迎旅程");
  const [status, setStatus] = useState<{ type: "success" | "error" | "info"; text: string } | null>(null);
  const [summary, setSummary] = useState<Record<string, number> | null>(null);

  const plain = useCallback((): [FlowNode[], FlowEdge[]] => {
    const ns = nodes.map((n) => ({ id: n.id, kind: n.data.kind, config: n.data.config, position: n.position }));
    const es = edges.map((e) => ({ source: e.source, target: e.target, branch: e.sourceHandle ?? "next" }));
    return [ns, es];
  }, [nodes, edges]);
  const doc = useMemo(() => {
    const [ns, es] = plain();
    return toJourney(jid, name, ns, es);
  }, [plain, jid, name]);

  const add = (kind: string, position?: { x: number; y: number }) => {
    const id = freshId(kind, new Set(nodes.map((n) => n.id)));
    const pos = position ?? { x: 80 + (nodes.length % 3) * 200, y: 40 + nodes.length * 90 };
    const config = structuredClone(KINDS[kind].config);
    setNodes((ns) => [...ns, { id, type: "journey", position: pos, data: { kind, config } }]);
    setSelected(id);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    const kind = e.dataTransfer.getData("application/opsloop-node");
    if (!KINDS[kind]) return;
    add(kind, flow.screenToFlowPosition({ x: e.clientX, y: e.clientY }));
  };
  const onConnect = (c: Connection) =>
    setEdges((es) =>
      addEdge({ ...c, id: `${c.source}-${c.sourceHandle}-${c.target}`, label: c.sourceHandle !== "next" ? c.sourceHandle : undefined }, es),
    );
  const clearMarks = (extra: (d: Data) => Partial<Data>) =>
    setNodes((ns) => ns.map((n) => ({ ...n, data: { ...n.data, error: undefined, counts: undefined, ...extra(n.data) } })));
  const showError = (e: unknown) => {
    const [ns, es] = plain();
    const where = e instanceof ApiError ? e.where : null;
    const msg = e instanceof Error ? e.message : String(e);
    const target = nodeOfError(where, ns, es);
    setNodes((nds) => nds.map((n) => ({ ...n, data: { ...n.data, error: n.id === target ? msg : undefined } })));
    setStatus({ type: "error", text: where ? `${msg} (${where})` : msg });
  };
  const run = async (label: string, fn: () => Promise<void>) => {
    setStatus({ type: "info", text: `${label}…` });
    try {
      await fn();
    } catch (e) {
      showError(e);
    }
  };
  const validate = () =>
    run(t("校验"), async () => {
      await post("/api/v1/journeys/validate", { journey: doc });
      clearMarks(() => ({}));
      setStatus({ type: "success", text: t("校验通过") });
    });
  const dryRun = () =>
    run(t("试运行"), async () => {
      const f = await post<{ nodes: Record<string, Record<string, number>>; candidates: number; entered: number; sent: number; suppressed: number; estimated_cost_cents: number; control: number }>(
        "/api/v1/journeys/dry-run",
        { journey: doc },
      );
      setNodes((ns) => ns.map((n) => ({ ...n, data: { ...n.data, error: undefined, counts: f.nodes[n.id] ?? {} } })));
      setSummary({ candidates: f.candidates, entered: f.entered, control: f.control, sent: f.sent, suppressed: f.suppressed, cost_cents: f.estimated_cost_cents });
      setStatus({ type: "success", text: `${t("试运行")}: entered ${f.entered}` });
    });
  const submit = () =>
    run(t("提交审批"), async () => {
      await post("/api/v1/journeys", { journey: doc });
      const r = await post<{ status?: string }>(`/api/v1/journeys/${encodeURIComponent(jid)}/submit`);
      setStatus({ type: "success", text: `${t("提交审批")}: ${r?.status ?? "ok"}` });
    });
  const approve = () =>
    run(t("审批通过"), async () => {
      const r = await post<{ status?: string }>(`/api/v1/journeys/${encodeURIComponent(jid)}/approve`);
      setStatus({ type: "success", text: `${t("审批通过")}: ${r?.status ?? "ok"}` });
    });
  const stats = () =>
    run(t("节点统计"), async () => {
      const s = await get<Record<string, { nodes: Record<string, Record<string, number>> }>>(`/api/v1/journeys/${encodeURIComponent(jid)}/stats`);
      const versions = Object.keys(s).sort((a, b) => Number(a) - Number(b));
      const latest = versions.length ? s[versions[versions.length - 1]].nodes : {};
      setNodes((ns) => ns.map((n) => ({ ...n, data: { ...n.data, counts: latest[n.id] ?? {} } })));
      setStatus({ type: "success", text: versions.length ? `${t("节点统计")}: v${versions[versions.length - 1]}` : t("暂无数据") });
    });
  const current = nodes.find((n) => n.id === selected) ?? null;
  const setConfig = (config: Record<string, unknown>) =>
    setNodes((ns) => ns.map((n) => (n.id === selected ? { ...n, data: { ...n.data, config } } : n)));
  const rename = (id: string) => {
    if (!selected || nodes.some((n) => n.id === id)) return;
    setNodes((ns) => ns.map((n) => (n.id === selected ? { ...n, id } : n)));
    setEdges((es) => es.map((e) => ({ ...e, source: e.source === selected ? id : e.source, target: e.target === selected ? id : e.target })));
    setSelected(id);
  };
  return (
    <div style={{ display: "flex", flexDirection: "column", gap: 8 }}>
      <Card size="small">
        <Space wrap>
          <Input addonBefore={t("旅程编号")} value={jid} onChange={(e) => setJid(e.target.value)} style={{ width: 260 }} />
          <Input addonBefore={t("旅程名称")} value={name} onChange={(e) => setName(e.target.value)} style={{ width: 260 }} />
          <Button onClick={validate} data-testid="validate">
            {t("校验")}
          </Button>
          <Button type="primary" onClick={dryRun} data-testid="dry-run">
            {t("试运行")}
          </Button>
          <Button onClick={submit} data-testid="submit">
            {t("提交审批")}
          </Button>
          <Button onClick={approve} data-testid="approve">
            {t("审批通过")}
          </Button>
          <Button onClick={stats} data-testid="stats">
            {t("节点统计")}
          </Button>
        </Space>
        {status && <Alert style={{ marginTop: 8 }} type={status.type} message={status.text} data-testid="journey-status" />}
        {summary && (
          <Space style={{ marginTop: 8 }} wrap data-testid="dry-run-summary">
            {Object.entries(summary).map(([k, v]) => (
              <Badge key={k} count={`${k}: ${v}`} color="#1677ff" overflowCount={Number.MAX_SAFE_INTEGER} />
            ))}
          </Space>
        )}
      </Card>
      <div style={{ display: "flex", gap: 8 }}>
        <Palette onAdd={(k) => add(k)} />
        <div style={{ flex: 1, height: 620, border: "1px solid #eee", background: "#fff" }} onDragOver={(e) => e.preventDefault()} onDrop={onDrop} data-testid="canvas">
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            onNodeClick={(_, n) => setSelected(n.id)}
            onPaneClick={() => setSelected(null)}
            fitView={false}
            deleteKeyCode={["Delete", "Backspace"]}
          >
            <Background />
            <Controls />
          </ReactFlow>
        </div>
        <SidePanel node={current} onChange={setConfig} onRename={rename} />
      </div>
      <Typography.Paragraph type="secondary">
        <pre style={{ fontSize: 11, maxHeight: 160, overflow: "auto" }} data-testid="journey-json">
          {JSON.stringify(doc)}
        </pre>
      </Typography.Paragraph>
    </div>
  );
}

export default function Journeys() {
  return (
    <ReactFlowProvider>
      <Canvas />
    </ReactFlowProvider>
  );
}
