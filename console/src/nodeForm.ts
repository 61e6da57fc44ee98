// Per-kind node forms: a node's config ↔ the values of its Ant Design form.
// The form holds the config under ``config`` (so an API error's path names a form field),
// ``on_blocked`` for actions the contact policy can block, and ``ui`` for choices the
// document expresses by which key is present (saved vs inline segment, delay vs until…).
import { FIELDS, type FieldType } from "./segment";
import { BLOCKABLE } from "./journey";

type Cfg = Record<string, unknown>;
export interface FormValues {
  config: Cfg;
  on_blocked?: Cfg;
  ui: Record<string, string>;
}

const obj = (v: unknown): Cfg => (v && typeof v === "object" && !Array.isArray(v) ? (v as Cfg) : {});
const list = (v: unknown): Cfg[] => (Array.isArray(v) ? v.map(obj) : []);

const DEFAULTS: Record<string, Cfg> = {
  send_message: { business_line: "general", marketing: true, cost_cents: 0 },
  issue_benefit: { cost_cents: 0 },
  wait: { business_day: false },
  ab_split: { holdout: 0 },
  webhook: { channel: "webhook" },
  exit: { reason: "done" },
  file_entry: { id_column: "customer_id", max_rows: 100000 },
};

const SLOT_DEFAULTS: Cfg = { priority: 0, hours: 24 };

/** A ``slot`` send's block (SlotSpec): optional URLs left out when blank. */
export function cleanSlot(s: Cfg): Cfg {
  const out: Cfg = { slot: s.slot, title: s.title, priority: s.priority ?? 0, hours: s.hours ?? 24 };
  for (const k of ["image_url", "link"]) if (typeof s[k] === "string" && (s[k] as string).trim()) out[k] = (s[k] as string).trim();
  return out;
}

/** What the form starts from: the node's config, its on_blocked, and the UI choices. */
export function toFormValues(kind: string, config: Cfg, onBlocked?: Cfg): FormValues {
  const ui: Record<string, string> = {};
  // the API's defaults, shown as such (an empty switch must not mean what the API reads as on)
  const cfg = { ...(DEFAULTS[kind] ?? {}), ...structuredClone(config) };
  if (kind === "segment_entry") {
    ui.source = cfg.segment_id ? "saved" : "inline";
    ui.schedule = !cfg.schedule || cfg.schedule === "once" ? "once" : "cron";
  } else if (kind === "attribute_split") {
    ui.by = cfg.tag !== undefined && cfg.tag !== null ? "tag" : "field";
  } else if (kind === "wait") {
    ui.mode = cfg.until ? "until" : "delay";
  } else if (kind === "send_message") {
    cfg.slot = { ...SLOT_DEFAULTS, ...obj(cfg.slot) }; // kept for the form, sent only for slot
  }
  const out: FormValues = { config: cfg, ui };
  if (BLOCKABLE.has(kind)) out.on_blocked = structuredClone(onBlocked ?? { action: "exit" });
  return out;
}

/** A value typed into a text box, as the field's type wants it (``"3"`` → 3 for an int). */
export function coerce(type: FieldType | undefined, v: unknown): unknown {
  if (typeof v !== "string") return v;
  if (type === "int" || type === "float") {
    const n = Number(v);
    return v.trim() !== "" && Number.isFinite(n) ? n : v;
  }
  if (type === "bool") return v === "true" ? true : v === "false" ? false : v;
  return v;
}

const NO_VALUE = new Set(["is_null", "is_not_null"]);

/** A condition edited in the form: attribute values typed to the field, no value for
 *  is_null; other condition kinds (edited in the segment builder) pass through. */
export function cleanCondition(c: Cfg): Cfg {
  if (c.kind === "attribute") {
    const type = FIELDS[String(c.field)];
    const out: Cfg = { kind: "attribute", field: c.field, op: c.op };
    if (!NO_VALUE.has(String(c.op))) {
      out.value = Array.isArray(c.value) ? c.value.map((v) => coerce(type, v)) : coerce(type, c.value);
    }
    return out;
  }
  if (c.kind === "tag") {
    const out: Cfg = { kind: "tag", tag: c.tag, op: c.op ?? "=" };
    if (c.value !== undefined) out.value = c.value;
    return out;
  }
  return c;
}

/** The node's config (and on_blocked) from the form's whole store. */
export function fromFormValues(kind: string, values: FormValues): { config: Cfg; on_blocked?: Cfg } {
  const c = obj(values.config);
  const ui = values.ui ?? {};
  let config: Cfg;
  switch (kind) {
    case "segment_entry": {
      const schedule = ui.schedule === "cron" ? c.schedule : "once";
      if (ui.source === "saved") config = { segment_id: c.segment_id, schedule };
      else {
        const seg = obj(c.segment);
        config = { segment: { ...seg, root: cleanCondition(obj(seg.root)) }, schedule };
      }
      break;
    }
    case "condition":
      config = { condition: cleanCondition(obj(c.condition)) };
      break;
    case "attribute_split": {
      const type = ui.by === "tag" ? undefined : FIELDS[String(c.field)];
      const cases = list(c.cases).map((k) => ({
        branch: k.branch,
        values: (Array.isArray(k.values) ? k.values : []).map((v) => coerce(type, v)),
      }));
      config = ui.by === "tag" ? { tag: c.tag, cases } : { field: c.field, cases };
      break;
    }
    case "ab_split":
      config = { arms: list(c.arms).map((a) => ({ name: a.name, weight: a.weight })), holdout: c.holdout ?? 0 };
      break;
    case "score_split":
      config = { model: c.model, bands: list(c.bands).map((b) => ({ branch: b.branch, low: b.low, high: b.high })) };
      break;
    case "wait":
      config =
        ui.mode === "until"
          ? { until: c.until, business_day: Boolean(c.business_day) }
          : { delay: c.delay, business_day: Boolean(c.business_day) };
      break;
    case "quiet_hours":
      config = { start: c.start, end: c.end };
      break;
    case "send_message":
      config = {
        channel: c.channel,
        template_id: c.template_id,
        business_line: c.business_line || "general",
        marketing: c.marketing !== false,
        cost_cents: c.cost_cents ?? 0,
      };
      if (c.channel === "slot") config.slot = cleanSlot(obj(c.slot));
      break;
    case "file_entry":
      config = { id_column: String(c.id_column ?? "").trim() || "customer_id", max_rows: c.max_rows ?? 100000 };
      break;
    case "webhook": {
      config = { url: c.url, channel: c.channel || "webhook" };
      if (c.headers && Object.keys(obj(c.headers)).length) config.headers = c.headers;
      break;
    }
    default:
      config = c;
  }
  if (!BLOCKABLE.has(kind)) return { config };
  const ob = obj(values.on_blocked);
  const on_blocked: Cfg = ob.action === "wait" ? { action: "wait", deadline: ob.deadline } : { action: ob.action ?? "exit" };
  return { config, on_blocked };
}
