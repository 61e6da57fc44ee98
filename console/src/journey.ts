// Journey canvas model: node kinds (docs/strategy.md), their output branches, default
// configs, and the translation between React Flow's graph and a journey document.

export type Group = "entry" | "judgment" | "control" | "action";

/** The channels a send-message node may use (``Channel`` in strategy/journey.py). */
export const CHANNELS = ["sms", "push", "email", "wechat", "call", "inapp", "slot"];

export interface KindSpec {
  group: Group;
  label: string;
  config: Record<string, unknown>;
}

export const KINDS: Record<string, KindSpec> = {
  segment_entry: {
    group: "entry",
    label: "客群入口",
    config: { schedule: "once", segment: { name: "全部活跃客户", root: { kind: "attribute", field: "is_active", op: "=", value: true } } },
  },
  event_entry: { group: "entry", label: "事件入口", config: { trigger: { event: "app_open" } } },
  api_entry: { group: "entry", label: "接口入口", config: { source: "app" } },
  file_entry: { group: "entry", label: "文件上传入口", config: { id_column: "customer_id", max_rows: 100000 } },
  condition: {
    group: "judgment",
    label: "条件判断",
    config: { condition: { kind: "attribute", field: "kyc_risk_level", op: ">=", value: 3 } },
  },
  attribute_split: {
    group: "judgment",
    label: "属性分流",
    config: { field: "gender", cases: [{ branch: "f", values: ["F"] }] },
  },
  wait_event: {
    group: "judgment",
    label: "等待事件",
    config: { event: { event: "app_login" }, timeout: { amount: 3, unit: "days" } },
  },
  ab_split: {
    group: "judgment",
    label: "A/B 分流",
    config: { arms: [{ name: "a", weight: 1 }, { name: "b", weight: 1 }], holdout: 0.1 },
  },
  score_split: {
    group: "judgment",
    label: "评分分流",
    config: { model: "churn", bands: [{ branch: "high", low: 0.7, high: 1.01 }] },
  },
  wait: { group: "control", label: "等待", config: { delay: { amount: 1, unit: "days" } } },
  frequency_cap: { group: "control", label: "频次控制", config: { max: 1, per: { amount: 7, unit: "days" } } },
  quiet_hours: { group: "control", label: "免打扰时段", config: { start: "21:00", end: "08:00" } },
  merge: { group: "control", label: "合并", config: {} },
  exit: { group: "control", label: "退出", config: { reason: "done" } },
  send_message: {
    group: "action",
    label: "发送消息",
    config: { channel: "sms", template_id: "t-welcome", cost_cents: 5 },
  },
  issue_benefit: { group: "action", label: "发放权益", config: { benefit_id: "c-10off", cost_cents: 1000 } },
  rm_task: { group: "action", label: "客户经理任务", config: { title: "电话回访", due: { amount: 2, unit: "days" } } },
  tag: { group: "action", label: "打标签", config: { op: "add", tag: "contacted" } },
  webhook: { group: "action", label: "Webhook", config: { url: "https://example.com/hook", channel: "webhook" } },
};

/** A lifecycle status as the console shows it (the API speaks English ids). */
export const STATUS_ZH: Record<string, string> = {
  draft: "草稿",
  submitted: "已提交",
  approved: "已批准",
  running: "运行中",
  paused: "已暂停",
  finished: "已结束",
  archived: "已归档",
  superseded: "已被取代",
};
export const statusLabel = (status: string): string => STATUS_ZH[status] ?? status;

export const GROUP_LABELS: Record<Group, string> = { entry: "入口", judgment: "判断", control: "控制", action: "动作" };

type Cfg = Record<string, unknown>;

/** Kinds whose contact the policy can block; they carry ``on_blocked`` (skip / wait / exit). */
export const BLOCKABLE = new Set(["send_message", "issue_benefit", "rm_task"]);
const names = (list: unknown, key: string): string[] =>
  Array.isArray(list) ? list.map((x) => String((x as Cfg)[key] ?? "")).filter(Boolean) : [];

/** The output branches of a node; ``["next"]`` for single-output kinds, ``[]`` for exit. */
export function branches(kind: string, config: Cfg): string[] {
  switch (kind) {
    case "condition":
      return ["yes", "no"];
    case "attribute_split":
      return [...names(config.cases, "branch"), "other"];
    case "wait_event":
      return ["event", "timeout"];
    case "ab_split":
      return [...names(config.arms, "name"), ...(Number(config.holdout ?? 0) > 0 ? ["holdout"] : [])];
    case "score_split":
      return [...names(config.bands, "branch"), "other"];
    case "frequency_cap":
      return ["pass", "capped"];
    case "exit":
      return [];
    default:
      return ["next"];
  }
}

export interface FlowNode {
  id: string;
  kind: string;
  config: Cfg;
  position: { x: number; y: number };
  on_blocked?: Cfg;
}

export interface FlowEdge {
  source: string;
  target: string;
  branch: string;
}

/** The journey document the strategy API takes (single-output edges carry no branch). */
export function toJourney(id: string, name: string, nodes: FlowNode[], edges: FlowEdge[]): Cfg {
  return {
    id,
    name,
    nodes: nodes.map((n) =>
      n.on_blocked && BLOCKABLE.has(n.kind)
        ? { id: n.id, kind: n.kind, config: n.config, on_blocked: n.on_blocked }
        : { id: n.id, kind: n.kind, config: n.config },
    ),
    edges: edges.map((e) =>
      e.branch && e.branch !== "next" ? { from: e.source, to: e.target, branch: e.branch } : { from: e.source, to: e.target },
    ),
  };
}

/** Which node a validation ``where`` points at: ``nodes[3].config…`` → the 4th node's id;
 *  ``edges[2].to`` → the node that edge comes from. */
export function nodeOfError(where: string | null, nodes: FlowNode[], edges: FlowEdge[]): string | null {
  if (!where) return null;
  const n = where.match(/(?:^|\.)nodes\[(\d+)\]/);
  if (n) return nodes[Number(n[1])]?.id ?? null;
  const e = where.match(/(?:^|\.)edges\[(\d+)\]/);
  if (e) return edges[Number(e[1])]?.source ?? null;
  return null;
}

/** A fresh node id for ``kind`` not used yet on the canvas: sms, sms_2, … */
export function freshId(kind: string, taken: Set<string>): string {
  const base = kind;
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

interface DocNode {
  id: string;
  kind: string;
  config?: Cfg;
  on_blocked?: Cfg;
}

/** A stored journey document back onto the canvas: entries on top, each node one row
 *  below the deepest node that leads to it, siblings side by side (documents keep no
 *  positions). */
export function fromJourney(doc: { nodes?: DocNode[]; edges?: { from: string; to: string; branch?: string }[] }): [
  FlowNode[],
  FlowEdge[],
] {
  const docNodes = doc.nodes ?? [];
  const edges: FlowEdge[] = (doc.edges ?? []).map((e) => ({ source: e.from, target: e.to, branch: e.branch ?? "next" }));
  const depth = new Map<string, number>();
  for (const n of docNodes) if (KINDS[n.kind]?.group === "entry") depth.set(n.id, 0);
  for (let pass = 0; pass < docNodes.length; pass++) {
    let changed = false;
    for (const e of edges) {
      const d = depth.get(e.source);
      if (d === undefined) continue;
      const cur = depth.get(e.target);
      // a cycle (through a wait) must not push its nodes down for ever
      if ((cur === undefined || cur < d + 1) && d + 1 < docNodes.length) {
        depth.set(e.target, d + 1);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const perRow = new Map<number, number>();
  const nodes = docNodes.map((n) => {
    const row = depth.get(n.id) ?? 0;
    const col = perRow.get(row) ?? 0;
    perRow.set(row, col + 1);
    const out: FlowNode = { id: n.id, kind: n.kind, config: n.config ?? {}, position: { x: 40 + col * 300, y: 30 + row * 190 } };
    if (n.on_blocked) out.on_blocked = n.on_blocked;
    return out;
  });
  return [nodes, edges];
}

/** The form field a validation ``where`` names inside its node: ``nodes[3].config.delay.amount``
 *  → ``["config", "delay", "amount"]``; ``cases[0]`` becomes ``"cases", 0``. */
export function fieldOfError(where: string | null): (string | number)[] | null {
  if (!where) return null;
  const m = where.match(/(?:^|\.)nodes\[\d+\]\.(.+)$/);
  if (!m) return null;
  const path: (string | number)[] = [];
  for (const part of m[1].split(".")) {
    const idx = part.match(/^([^[]+)((?:\[\d+\])*)$/);
    if (!idx) return null;
    path.push(idx[1]);
    for (const i of idx[2].matchAll(/\[(\d+)\]/g)) path.push(Number(i[1]));
  }
  return path;
}

const METRIC_ZH: Record<string, string> = {
  candidates: "候选",
  entered: "进入",
  exited: "退出",
  done: "完成",
  waiting: "等待中",
  timeout: "超时",
  control: "对照组",
  sent: "发送",
  issued: "发放",
  suppressed: "被拦截",
  branch: "分支",
  cost_cents: "成本(分)",
};
const DETAIL_ZH: Record<string, string> = {
  next: "下一步",
  yes: "是",
  no: "否",
  dnd: "免打扰",
  no_consent: "未授权",
  quiet_hours: "免打扰时段",
  frequency_cap: "频控",
  capped: "频控",
  exhausted: "权益用尽",
  timeout: "超时",
};

/** A node or dry-run counter ("suppressed:no_consent") in the operator's words. */
export function metricLabel(metric: string, t: (zh: string) => string): string {
  const [base, ...rest] = metric.split(":");
  const head = METRIC_ZH[base] ? t(METRIC_ZH[base]) : base;
  if (!rest.length) return head;
  const detail = rest.join(":");
  return `${head}·${DETAIL_ZH[detail] ? t(DETAIL_ZH[detail]) : detail}`;
}

/** A branch name on the canvas: yes/no/timeout in words, named arms (A/B…) as written. */
export const branchLabel = (branch: string, t: (zh: string) => string): string => (DETAIL_ZH[branch] ? t(DETAIL_ZH[branch]) : branch);

/** Labels of the counters, for the i18n test (passed to t() by metricLabel). */
export const METRIC_LABELS = [...Object.values(METRIC_ZH), ...Object.values(DETAIL_ZH)];
