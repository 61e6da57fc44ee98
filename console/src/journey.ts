// Journey canvas model: node kinds (docs/strategy.md), their output branches, default
// configs, and the translation between React Flow's graph and a journey document.

export type Group = "entry" | "judgment" | "control" | "action";

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
  wait: { group: "control", label: "等待", config: { delay: { amount: 1, unit: "days" } } },
  frequency_cap: { group: "control", label: "频次控制", config: { max: 1, per: "week" } },
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
  webhook: { group: "action", label: "Webhook", config: { url: "https://example.com/hook" } },
};

export const GROUP_LABELS: Record<Group, string> = { entry: "入口", judgment: "判断", control: "控制", action: "动作" };

type Cfg = Record<string, unknown>;
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
    nodes: nodes.map((n) => ({ id: n.id, kind: n.kind, config: n.config })),
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
