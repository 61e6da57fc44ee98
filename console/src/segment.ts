// The segment builder's tree and its translation to a segment document (docs/segments.md).
// Pure functions, so the rules (what an unfinished condition does) are tested in Vitest.

export type FieldType = "int" | "float" | "text" | "date" | "bool";

/** Columns of the canonical `customers` table an operator may filter on. */
export const FIELDS: Record<string, FieldType> = {
  kyc_risk_level: "int",
  income_monthly: "float",
  city: "text",
  gender: "text",
  occupation: "text",
  education: "text",
  marital: "text",
  org_id: "text",
  rm_id: "text",
  acquisition_channel: "text",
  birth_date: "date",
  opened_on: "date",
  is_active: "bool",
  dnd: "bool",
  consent_sms: "bool",
  consent_push: "bool",
  consent_email: "bool",
  consent_wechat: "bool",
  consent_call: "bool",
};

export const FIELD_LABELS: Record<string, string> = {
  kyc_risk_level: "风险等级",
  income_monthly: "月收入",
  city: "城市",
  gender: "性别",
  occupation: "职业",
  education: "学历",
  marital: "婚姻状况",
  org_id: "机构",
  rm_id: "客户经理",
  acquisition_channel: "获客渠道",
  birth_date: "出生日期",
  opened_on: "开户日期",
  is_active: "活跃",
  dnd: "免打扰",
  consent_sms: "短信授权",
  consent_push: "推送授权",
  consent_email: "邮件授权",
  consent_wechat: "微信授权",
  consent_call: "外呼授权",
};

export const OPS: Record<FieldType, string[]> = {
  int: ["=", "!=", ">", ">=", "<", "<=", "between", "in", "is_null", "is_not_null"],
  float: ["=", "!=", ">", ">=", "<", "<=", "between", "is_null", "is_not_null"],
  text: ["=", "!=", "in", "not_in", "starts_with", "is_null", "is_not_null"],
  date: [">=", "<=", ">", "<", "=", "between", "is_null", "is_not_null"],
  bool: ["=", "!="],
};

let nextId = 1;
const newId = () => `n${nextId++}`;

export type Value = string | number | boolean | null | (string | number)[];

export type Node =
  | { id: string; kind: "and" | "or"; children: Node[] }
  | { id: string; kind: "attribute"; field: string; op: string; value: Value }
  | {
      id: string;
      kind: "txn_aggregate";
      agg: "sum" | "count" | "avg" | "max";
      direction: "in" | "out" | "";
      last_days: number;
      op: string;
      value: number | null;
    }
  | { id: string; kind: "behaviour"; event: string; op: string; count: number; last_days: number }
  | { id: string; kind: "tag"; tag: string; op: string; value: Value };

/** Tag operators by the tag's value type (the API's TagOp; order compares numbers only). */
export const TAG_OPS: Record<string, string[]> = {
  bool: ["=", "!=", "has_value"],
  number: ["=", "!=", ">", ">=", "<", "<=", "has_value"],
  enum: ["=", "!=", "in", "not_in", "has_value"],
  text: ["=", "!=", "in", "not_in", "has_value"],
};
export const tagOps = (valueType: string | undefined): string[] => TAG_OPS[valueType ?? ""] ?? TAG_OPS.text;

export const group = (kind: "and" | "or" = "and", children: Node[] = []): Node => ({ id: newId(), kind, children });
export const attribute = (field = "kyc_risk_level", op = ">=", value: Value = null): Node => ({
  id: newId(),
  kind: "attribute",
  field,
  op,
  value,
});
export const txn = (): Node => ({
  id: newId(),
  kind: "txn_aggregate",
  agg: "sum",
  direction: "out",
  last_days: 30,
  op: ">",
  value: null,
});
export const tagCondition = (tag = "", op = "=", value: Value = true): Node => ({ id: newId(), kind: "tag", tag, op, value });
export const behaviour = (): Node => ({ id: newId(), kind: "behaviour", event: "", op: ">=", count: 1, last_days: 30 });

const NO_VALUE = new Set(["is_null", "is_not_null"]);

function attributeValue(type: FieldType, op: string, value: Value): { ok: boolean; value?: unknown } {
  if (NO_VALUE.has(op)) return { ok: true };
  const num = type === "int" || type === "float";
  const one = (v: unknown): unknown => {
    if (v === null || v === undefined || v === "") return undefined;
    if (num) {
      const n = Number(v);
      return Number.isFinite(n) ? n : undefined;
    }
    if (type === "bool") return v === true || v === "true" ? true : v === false || v === "false" ? false : undefined;
    return String(v);
  };
  if (op === "in" || op === "not_in" || op === "between") {
    const list = (Array.isArray(value) ? value : []).map(one);
    if (list.length === 0 || list.some((v) => v === undefined)) return { ok: false };
    if (op === "between" && list.length !== 2) return { ok: false };
    return { ok: true, value: list };
  }
  const v = one(value);
  return v === undefined ? { ok: false } : { ok: true, value: v };
}

/** The document node for an editing node, or null while it is unfinished (skipped). */
export function toCondition(node: Node): Record<string, unknown> | null {
  switch (node.kind) {
    case "and":
    case "or": {
      const children = node.children.map(toCondition).filter((c) => c !== null);
      return children.length ? { kind: node.kind, children } : null;
    }
    case "attribute": {
      const type = FIELDS[node.field];
      if (!type) return null;
      const v = attributeValue(type, node.op, node.value);
      if (!v.ok) return null;
      const out: Record<string, unknown> = { kind: "attribute", field: node.field, op: node.op };
      if (v.value !== undefined) out.value = v.value;
      return out;
    }
    case "txn_aggregate": {
      if (node.value === null || !Number.isFinite(node.value)) return null;
      return {
        kind: "txn_aggregate",
        agg: node.agg,
        where: node.direction ? { direction: node.direction } : {},
        last_days: node.last_days,
        op: node.op,
        value: node.value,
      };
    }
    case "tag": {
      if (!node.tag) return null;
      if (node.op === "has_value") return { kind: "tag", tag: node.tag, op: "has_value", value: null };
      if (node.op === "in" || node.op === "not_in") {
        const list = (Array.isArray(node.value) ? node.value : []).filter((v) => v !== "");
        return list.length ? { kind: "tag", tag: node.tag, op: node.op, value: list } : null;
      }
      if (node.value === null || node.value === "" || Array.isArray(node.value)) return null;
      return { kind: "tag", tag: node.tag, op: node.op, value: node.value };
    }
    case "behaviour":
      if (!node.event.trim()) return null;
      return {
        kind: "behaviour",
        step: { event: node.event.trim() },
        op: node.op,
        count: node.count,
        last_days: node.last_days,
      };
  }
}

/** A whole segment document, or null when no condition is finished yet. */
export function toDocument(name: string, root: Node): Record<string, unknown> | null {
  const cond = toCondition(root);
  return cond ? { name: name || "未命名客群", root: cond } : null;
}

/** Replace the node with ``id`` (immutably); ``null`` deletes it. */
export function update(root: Node, id: string, fn: (n: Node) => Node | null): Node {
  if (root.id === id) return fn(root) ?? root;
  if (root.kind !== "and" && root.kind !== "or") return root;
  const children: Node[] = [];
  for (const c of root.children) {
    if (c.id === id) {
      const next = fn(c);
      if (next) children.push(next);
    } else children.push(update(c, id, fn));
  }
  return { ...root, children };
}

/**
 * A saved segment document back into the builder's tree. The builder edits attribute,
 * tag, transaction and behaviour conditions in and/or groups; any other kind (RFM,
 * sequences…) is refused with its path, so nothing is silently dropped.
 */
export function fromDocument(doc: { name?: string; root: unknown }): { name: string; root: Node } {
  const walk = (c: unknown, where: string): Node => {
    const n = (c ?? {}) as Record<string, unknown>;
    switch (n.kind) {
      case "and":
      case "or":
        return group(n.kind, ((n.children as unknown[]) ?? []).map((x, i) => walk(x, `${where}.children[${i}]`)));
      case "attribute":
        return attribute(String(n.field), String(n.op), (n.value ?? null) as Value);
      case "txn_aggregate": {
        const w = (n.where ?? {}) as Record<string, unknown>;
        const extra = Object.keys(w).filter((k) => k !== "direction" && w[k] !== null && !(Array.isArray(w[k]) && (w[k] as unknown[]).length === 0));
        if (extra.length) throw new Error(`${where}.where.${extra[0]}: the builder cannot edit this filter`);
        return {
          id: txn().id,
          kind: "txn_aggregate",
          agg: n.agg as "sum" | "count" | "avg" | "max",
          direction: ((w.direction as string) ?? "") as "in" | "out" | "",
          last_days: Number(n.last_days),
          op: String(n.op),
          value: n.value === undefined || n.value === null ? null : Number(n.value),
        };
      }
      case "behaviour": {
        const step = (n.step ?? {}) as Record<string, unknown>;
        const props = step.properties as Record<string, unknown> | undefined;
        if (props && Object.keys(props).length) throw new Error(`${where}.step.properties: the builder cannot edit event properties`);
        return { id: behaviour().id, kind: "behaviour", event: String(step.event ?? ""), op: String(n.op ?? ">="), count: Number(n.count ?? 1), last_days: Number(n.last_days ?? 30) };
      }
      case "tag":
        return tagCondition(String(n.tag ?? ""), String(n.op ?? "="), n.op === "has_value" ? null : ((n.value ?? true) as Value));
      default:
        throw new Error(`${where}: the builder cannot edit a "${String(n.kind)}" condition`);
    }
  };
  const root = walk(doc.root, "root");
  return { name: doc.name ?? "", root: root.kind === "and" || root.kind === "or" ? root : group("and", [root]) };
}
