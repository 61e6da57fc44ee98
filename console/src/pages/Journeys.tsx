// Strategy canvas (策略画布): palette → React Flow canvas → per-kind node form; open a
// journey's versions, save (a draft, or a new version of a submitted/running journey),
// validate, dry-run, submit / approve / launch / pause; counts and live stats on the nodes.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { useNavigate, useParams, useSearchParams } from "react-router-dom";
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
import { Alert, Badge, Button, Card, Input, Select, Space, Switch, Tag, Typography } from "antd";
import { ApiError, get, post, upload, type Me } from "../api";
import { NodeForm, useOptions, type Options } from "../components/NodeForm";
import { useI18n } from "../i18n";
import { yuan } from "../format";
import {
  BLOCKABLE,
  GROUP_LABELS,
  KINDS,
  branches,
  fieldOfError,
  freshId,
  fromJourney,
  nodeOfError,
  statusLabel,
  toJourney,
  type FlowEdge,
  type FlowNode,
  type Group,
  branchLabel,
  metricLabel,
} from "../journey";

interface Data extends Record<string, unknown> {
  kind: string;
  config: Record<string, unknown>;
  on_blocked?: Record<string, unknown>;
  error?: string;
  errorField?: (string | number)[] | null;
  counts?: Record<string, number>;
}
type JNode = Node<Data, "journey">;

/** What a running journey's file_entry node offers: an upload button, and the last answer. */
export interface UploadResult {
  rows: number;
  unique_ids: number;
  entered: number;
  control: number;
  skipped_reentry: number;
}
const Uploads = createContext<{ enabled: boolean; send: (node: string, file: File) => void; last: Record<string, UploadResult> }>({
  enabled: false,
  send: () => undefined,
  last: {},
});

/** The upload button on a file_entry node (posts the chosen CSV to the running journey). */
function UploadButton({ node }: { node: string }) {
  const { t } = useI18n();
  const ctx = useContext(Uploads);
  const input = useRef<HTMLInputElement>(null);
  const got = ctx.last[node];
  return (
    <div style={{ marginTop: 4 }} className="nodrag">
      <input
        ref={input}
        type="file"
        accept=".csv,text/csv"
        style={{ display: "none" }}
        data-testid={`upload-input-${node}`}
        onChange={(e) => {
          const f = e.target.files?.[0];
          e.target.value = "";
          if (f) ctx.send(node, f);
        }}
      />
      <Button size="small" disabled={!ctx.enabled} title={ctx.enabled ? undefined : t("运行中的旅程才能上传名单")} onClick={() => input.current?.click()} data-testid={`upload-${node}`}>
        {t("上传名单 (CSV)")}
      </Button>
      {got && (
        <div data-testid={`upload-result-${node}`} style={{ color: "#389e0d", fontSize: 11 }}>
          {t("上传完成")}: rows {got.rows} · ids {got.unique_ids} · entered {got.entered} · control {got.control} · skipped {got.skipped_reentry}
        </div>
      )}
    </div>
  );
}

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
            <Tag key={k} color="blue" style={{ fontSize: 11, marginBottom: 2 }} data-metric={k} title={k}>
              {metricLabel(k, t)}: {v}
            </Tag>
          ))}
        </div>
      )}
      {data.kind === "file_entry" && <UploadButton node={id} />}
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
            <span key={b} title={b}>
              {branchLabel(b, t)}
            </span>
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

/** The selected node's id and form (keyed by the node: a new node, a fresh form). */
function SidePanel({
  node,
  options,
  onChange,
  onRename,
}: {
  node: JNode | null;
  options: Options;
  onChange: (next: { config: Record<string, unknown>; on_blocked?: Record<string, unknown> }) => void;
  onRename: (id: string) => void;
}) {
  const { t } = useI18n();
  if (!node) return <Card size="small" title={t("节点配置")} style={{ width: 320 }}><Typography.Text type="secondary">{t("点击节点进行配置")}</Typography.Text></Card>;
  const fieldError = node.data.error && node.data.errorField ? { name: node.data.errorField, message: node.data.error } : null;
  return (
    <Card size="small" title={`${t("节点配置")} · ${t(KINDS[node.data.kind]?.label ?? node.data.kind)}`} style={{ width: 320, maxHeight: 620, overflow: "auto" }}>
      <Space direction="vertical" style={{ width: "100%" }}>
        <Input
          addonBefore="id"
          defaultValue={node.id}
          onBlur={(e) => e.target.value && e.target.value !== node.id && onRename(e.target.value)}
          data-testid="node-id"
        />
        <NodeForm
          kind={node.data.kind}
          config={node.data.config}
          onBlocked={node.data.on_blocked}
          options={options}
          fieldError={fieldError}
          onChange={onChange}
        />
        {node.data.error && <Alert type="error" message={node.data.error} data-testid="node-error" />}
        <Typography.Text type="secondary" style={{ fontSize: 11 }}>
          {t("分支")}: {branches(node.data.kind, node.data.config).join(", ") || "—"}
        </Typography.Text>
      </Space>
    </Card>
  );
}

interface Info {
  journey_id: string;
  name: string;
  status: string;
  version: number;
  running_version: number | null;
  created_by: string;
  submitted_by: string | null;
  approved_by: string | null;
  definition: { id: string; name: string; nodes: { id: string; kind: string; config?: Record<string, unknown>; on_blocked?: Record<string, unknown> }[]; edges: { from: string; to: string; branch?: string }[] };
}

interface VersionRow {
  version: number;
  status: string;
  created_by: string;
}

const STATUS_COLOR: Record<string, string> = { draft: "default", submitted: "orange", approved: "cyan", running: "green", paused: "gold", finished: "purple", superseded: "default" };

function Canvas() {
  const { t } = useI18n();
  const flow = useReactFlow();
  const nav = useNavigate();
  const params = useParams();
  const [search] = useSearchParams();
  const openId = params.id ?? null;
  const openVersion = search.get("version");
  const options = useOptions();
  const [nodes, setNodes, onNodesChange] = useNodesState<JNode>([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState<Edge>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [jid, setJid] = useState(() => `journey_${Date.now().toString(36)}`);
  const [name, setName] = useState("新客欢迎旅程");
  const [info, setInfo] = useState<Info | null>(null);
  const [versions, setVersions] = useState<VersionRow[]>([]);
  const [live, setLive] = useState(true);
  const [me, setMe] = useState<Me | null>(null);
  useEffect(() => {
    get<Me>("/api/v1/auth/me").then(setMe, () => undefined);
  }, []);
  const [status, setStatus] = useState<{ type: "success" | "error" | "info"; text: string } | null>(null);
  const [summary, setSummary] = useState<Record<string, number> | null>(null);
  // what the canvas shows: a save that moves /journeys/new to /journeys/:id keeps the
  // drawing as it is instead of loading it back and laying it out again
  const shown = useRef<string | null>(null);

  const plain = useCallback((): [FlowNode[], FlowEdge[]] => {
    const ns = nodes.map((n) => ({ id: n.id, kind: n.data.kind, config: n.data.config, on_blocked: n.data.on_blocked, position: n.position }));
    const es = edges.map((e) => ({ source: e.source, target: e.target, branch: e.sourceHandle ?? "next" }));
    return [ns, es];
  }, [nodes, edges]);
  const doc = useMemo(() => {
    const [ns, es] = plain();
    return toJourney(jid, name, ns, es);
  }, [plain, jid, name]);

  const show = useCallback(
    (got: Info) => {
      const [ns, es] = fromJourney(got.definition);
      setNodes(ns.map((n) => ({ id: n.id, type: "journey", position: n.position, data: { kind: n.kind, config: n.config, on_blocked: n.on_blocked } })));
      setEdges(
        es.map((e) => ({
          id: `${e.source}-${e.branch}-${e.target}`,
          source: e.source,
          target: e.target,
          sourceHandle: e.branch,
          label: e.branch !== "next" ? branchLabel(e.branch, t) : undefined,
        })),
      );
      setJid(got.journey_id);
      setName(got.name);
      setSelected(null);
      setSummary(null);
    },
    [setNodes, setEdges, t],
  );
  const refresh = useCallback(
    async (id: string) => {
      setVersions(await get<VersionRow[]>(`/api/v1/journeys/${encodeURIComponent(id)}/versions`));
      const got = await get<Info>(`/api/v1/journeys/${encodeURIComponent(id)}`);
      setInfo(got);
      return got;
    },
    [],
  );
  useEffect(() => {
    const want = `${openId}@${openVersion ?? ""}`;
    if (!openId || shown.current === want) return;
    shown.current = want;
    const q = openVersion ? `?version=${encodeURIComponent(openVersion)}` : "";
    get<Info>(`/api/v1/journeys/${encodeURIComponent(openId)}${q}`).then(
      (got) => {
        show(got);
        void refresh(openId).catch(() => undefined);
      },
      (e) => setStatus({ type: "error", text: e instanceof Error ? e.message : String(e) }),
    );
  }, [openId, openVersion, show, refresh]);

  const add = (kind: string, position?: { x: number; y: number }) => {
    const id = freshId(kind, new Set(nodes.map((n) => n.id)));
    const pos = position ?? { x: 80 + (nodes.length % 3) * 200, y: 40 + nodes.length * 90 };
    const config = structuredClone(KINDS[kind].config);
    const on_blocked = BLOCKABLE.has(kind) ? { action: "exit" } : undefined;
    setNodes((ns) => [...ns, { id, type: "journey", position: pos, data: { kind, config, on_blocked } }]);
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
      addEdge({ ...c, id: `${c.source}-${c.sourceHandle}-${c.target}`, label: c.sourceHandle && c.sourceHandle !== "next" ? branchLabel(c.sourceHandle, t) : undefined }, es),
    );
  const clearMarks = () => setNodes((ns) => ns.map((n) => ({ ...n, data: { ...n.data, error: undefined, errorField: undefined } })));
  const showError = (e: unknown) => {
    const [ns, es] = plain();
    const where = e instanceof ApiError ? e.where : null;
    const msg = e instanceof Error ? e.message : String(e);
    const target = nodeOfError(where, ns, es);
    const field = fieldOfError(where);
    setNodes((nds) =>
      nds.map((n) => ({ ...n, data: { ...n.data, error: n.id === target ? msg : undefined, errorField: n.id === target ? field : undefined } })),
    );
    if (target) setSelected(target);
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
      clearMarks();
      setStatus({ type: "success", text: t("校验通过") });
    });
  const dryRun = () =>
    run(t("试运行"), async () => {
      const f = await post<{ nodes: Record<string, Record<string, number>>; candidates: number; entered: number; sent: number; suppressed: number; estimated_cost_cents: number; control: number }>(
        "/api/v1/journeys/dry-run",
        { journey: doc },
      );
      setNodes((ns) => ns.map((n) => ({ ...n, data: { ...n.data, error: undefined, errorField: undefined, counts: f.nodes[n.id] ?? {} } })));
      setSummary({ candidates: f.candidates, entered: f.entered, control: f.control, sent: f.sent, suppressed: f.suppressed, cost_cents: f.estimated_cost_cents });
      setStatus({ type: "success", text: `${t("试运行")}: ${t("进入")} ${f.entered}` });
    });
  const save = () =>
    run(t("保存"), async () => {
      const r = await post<Info>("/api/v1/journeys", { journey: doc });
      clearMarks();
      setStatus({ type: "success", text: `${t("已保存")}: ${r.journey_id} v${r.version} (${t(statusLabel(r.status))})` });
      if (openId !== r.journey_id || openVersion) {
        shown.current = `${r.journey_id}@`;
        nav(`/journeys/${encodeURIComponent(r.journey_id)}`, { replace: true });
      }
      await refresh(r.journey_id);
    });
  const move = (action: string, label: string) =>
    run(t(label), async () => {
      if (action === "submit") await post("/api/v1/journeys", { journey: doc }); // the canvas as shown
      const r = await post<Info | { journey: Info }>(`/api/v1/journeys/${encodeURIComponent(jid)}/${action}`);
      const got = "journey" in r ? r.journey : r;
      setStatus({ type: "success", text: `${t(label)}: v${got.version} ${t(statusLabel(got.status))}` });
      await refresh(jid);
    });
  const statsOf = useCallback(
    async (quiet: boolean) => {
      const s = await get<Record<string, { nodes: Record<string, Record<string, number>> }>>(`/api/v1/journeys/${encodeURIComponent(jid)}/stats`);
      const shown = info?.running_version ?? info?.version;
      const versionKeys = Object.keys(s).sort((a, b) => Number(a) - Number(b));
      const key = shown && s[String(shown)] ? String(shown) : versionKeys[versionKeys.length - 1];
      const per = key ? s[key].nodes : {};
      setNodes((ns) => ns.map((n) => ({ ...n, data: { ...n.data, counts: per[n.id] ?? {} } })));
      if (!quiet) setStatus({ type: "success", text: key ? `${t("节点统计")}: v${key}` : t("暂无数据") });
    },
    [jid, info, setNodes, t],
  );
  const running = info?.running_version != null && (info.status === "running" || versions.some((v) => v.status === "running"));
  useEffect(() => {
    if (!running || !live) return;
    void statsOf(true).catch(() => undefined);
    const timer = window.setInterval(() => void statsOf(true).catch(() => undefined), 5000);
    return () => window.clearInterval(timer);
  }, [running, live, statsOf]);

  const current = nodes.find((n) => n.id === selected) ?? null;
  const setConfig = (next: { config: Record<string, unknown>; on_blocked?: Record<string, unknown> }) =>
    setNodes((ns) =>
      ns.map((n) =>
        n.id === selected ? { ...n, data: { ...n.data, config: next.config, on_blocked: next.on_blocked, error: undefined, errorField: undefined } } : n,
      ),
    );
  const rename = (id: string) => {
    if (!selected || nodes.some((n) => n.id === id)) return;
    setNodes((ns) => ns.map((n) => (n.id === selected ? { ...n, id } : n)));
    setEdges((es) => es.map((e) => ({ ...e, source: e.source === selected ? id : e.source, target: e.target === selected ? id : e.target })));
    setSelected(id);
  };
  const editable = !info || info.status === "draft";
  // Buttons follow the lifecycle (docs/strategy.md) and the signed-in user's permissions;
  // the API still decides (maker-checker), these only hide what cannot work.
  const may = (perm: string) => me === null || me.permissions.includes(perm);
  const st = info?.status ?? "new";
  const runningNow = versions.some((v) => v.status === "running");
  const allowed: Record<string, boolean> = {
    save: may("journey:submit"),
    submit: may("journey:submit") && (st === "new" || st === "draft"),
    approve: may("journey:approve") && st === "submitted",
    reject: may("journey:approve") && st === "submitted",
    launch: may("journey:submit") && (st === "approved" || st === "paused" || versions.some((v) => v.status === "paused")),
    pause: may("journey:submit") && runningNow,
    stats: info !== null,
  };
  const [uploaded, setUploaded] = useState<Record<string, UploadResult>>({});
  // rebuilt each render: it closes over the canvas state that run() reports errors against
  const uploads = {
    enabled: running && may("journey:submit"),
    last: uploaded,
    send: (node: string, file: File) =>
      void run(t("上传名单"), async () => {
        const path = `/api/v1/journeys/${encodeURIComponent(jid)}/upload?node=${encodeURIComponent(node)}`;
        const r = await upload<UploadResult>(path, file, file.name);
        setUploaded((u) => ({ ...u, [node]: r }));
        setStatus({ type: "success", text: `${t("上传完成")}: entered ${r.entered}, skipped ${r.skipped_reentry}` });
        await statsOf(true).catch(() => undefined);
      }),
  };
  return (
    <Uploads.Provider value={uploads}>
    <div style={{ display: "flex", flexDirection: "column", gap: 8 }}>
      <Card size="small">
        <Space wrap>
          <Button onClick={() => nav("/journeys")}>{t("旅程列表")}</Button>
          <Input addonBefore={t("旅程编号")} value={jid} disabled={!!info} onChange={(e) => setJid(e.target.value)} style={{ width: 280 }} data-testid="journey-id" />
          <Input addonBefore={t("旅程名称")} value={name} onChange={(e) => setName(e.target.value)} style={{ width: 260 }} data-testid="journey-name" />
          {info && (
            <>
              <Tag color={STATUS_COLOR[info.status] ?? "default"} data-testid="journey-state">
                v{info.version} · {t(statusLabel(info.status))}
                {info.running_version ? ` · ${t("运行版本")} v${info.running_version}` : ""}
              </Tag>
              <Select
                size="small"
                style={{ width: 170 }}
                value={openVersion ? Number(openVersion) : undefined}
                placeholder={t("打开其他版本")}
                data-testid="journey-versions"
                onChange={(v) => nav(`/journeys/${encodeURIComponent(jid)}?version=${v}`)}
                options={versions.map((v) => ({ value: v.version, label: `v${v.version} · ${t(statusLabel(v.status))}` }))}
              />
            </>
          )}
        </Space>
        <div style={{ marginTop: 8 }}>
          <Space wrap>
            <Button onClick={save} data-testid="save" disabled={!allowed.save}>
              {editable ? t("保存草稿") : t("另存为新版本")}
            </Button>
            <Button onClick={validate} data-testid="validate" disabled={!may("journey:submit")}>
              {t("校验")}
            </Button>
            <Button type="primary" onClick={dryRun} data-testid="dry-run" disabled={!may("journey:submit")}>
              {t("试运行")}
            </Button>
            <Button onClick={() => move("submit", "提交审批")} data-testid="submit" disabled={!allowed.submit}>
              {t("提交审批")}
            </Button>
            <Button onClick={() => move("approve", "审批通过")} data-testid="approve" disabled={!allowed.approve}>
              {t("审批通过")}
            </Button>
            <Button onClick={() => move("reject", "驳回")} data-testid="reject" disabled={!allowed.reject}>
              {t("驳回")}
            </Button>
            <Button onClick={() => move("launch", "启动")} data-testid="launch" disabled={!allowed.launch}>
              {t("启动")}
            </Button>
            <Button onClick={() => move("pause", "暂停")} data-testid="pause" disabled={!allowed.pause}>
              {t("暂停")}
            </Button>
            <Button onClick={() => run(t("节点统计"), () => statsOf(false))} data-testid="stats" disabled={!allowed.stats}>
              {t("节点统计")}
            </Button>
            {running && (
              <Space size={4}>
                <Switch size="small" checked={live} onChange={setLive} data-testid="live-stats" />
                <Typography.Text type="secondary">{t("实时统计 (5 秒刷新)")}</Typography.Text>
              </Space>
            )}
          </Space>
        </div>
        {status && <Alert style={{ marginTop: 8 }} type={status.type} message={status.text} data-testid="journey-status" />}
        {summary && (
          <Space style={{ marginTop: 8 }} wrap data-testid="dry-run-summary">
            {Object.entries(summary).map(([k, v]) => (
              <span key={k} data-metric={k}>
                <Badge count={k === "cost_cents" ? `${t("预计成本")}: ${yuan(v)}` : `${metricLabel(k, t)}: ${v}`} color="#1677ff" overflowCount={Number.MAX_SAFE_INTEGER} />
              </span>
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
        <SidePanel key={current?.id ?? ""} node={current} options={options} onChange={setConfig} onRename={rename} />
      </div>
      <details>
        <summary style={{ color: "#888", cursor: "pointer" }}>{t("旅程文档 (JSON，只读)")}</summary>
        <pre style={{ fontSize: 11, maxHeight: 160, overflow: "auto" }} data-testid="journey-json">
          {JSON.stringify(doc)}
        </pre>
      </details>
    </div>
    </Uploads.Provider>
  );
}

export default function Journeys() {
  return (
    <ReactFlowProvider>
      <Canvas />
    </ReactFlowProvider>
  );
}
