// The activity step form's values → an activity document (docs/activity.md, six
// templates). Pure, so Vitest checks it; the API validates and names a wrong field.

export const TEMPLATES = ["coupon_drop", "sign_in", "lucky_draw", "referral", "task", "quota_test"] as const;
export type TemplateKind = (typeof TEMPLATES)[number];

/** Each template's name and one line on what it does (Chinese; the pages pass them to t()). */
export const TEMPLATE_ZH: Record<TemplateKind, [string, string]> = {
  coupon_drop: ["领券", "一次点击领一张券"],
  sign_in: ["签到", "连续签到第 n 天发放奖励"],
  lucky_draw: ["抽奖", "每次抽奖至多中一个奖品"],
  referral: ["老带新", "被邀请人首次达成后双方各得奖励"],
  task: ["任务", "完成开户认证/绑卡/首购得奖励"],
  quota_test: ["额度测算", "测算贷款额度得用款券"],
};

/** What an activity in each status can be moved to (the API's TRANSITIONS). */
export const ACTIONS_BY_STATUS: Record<string, [string, string][]> = {
  submitted: [
    ["approve", "审批通过"],
    ["reject", "驳回"],
  ],
  approved: [
    ["start", "开始"],
    ["finish", "结束"],
  ],
  running: [
    ["pause", "暂停"],
    ["finish", "结束"],
  ],
  paused: [
    ["start", "开始"],
    ["finish", "结束"],
  ],
};

export interface ActivityForm {
  template: TemplateKind;
  benefit_id?: string;
  cycle_days?: number;
  rewards?: { day: number; benefit_id: string }[];
  prizes?: { benefit_id: string; probability: number }[];
  draws_per_day?: number;
  inviter_benefit_id?: string;
  invitee_benefit_id?: string;
  qualifying_action?: string;
  max_invites?: number;
  tasks?: { action: string; benefit_id: string }[];
  name: string;
  starts_at: string;
  ends_at: string;
  budget_yuan?: number | null;
  kyc_risk_levels?: number[];
  landing_title: string;
  landing_body?: string;
}

function template(v: ActivityForm): Record<string, unknown> {
  switch (v.template) {
    case "coupon_drop":
    case "quota_test":
      return { kind: v.template, benefit_id: v.benefit_id };
    case "sign_in":
      return { kind: "sign_in", cycle_days: v.cycle_days ?? 7, rewards: v.rewards ?? [] };
    case "lucky_draw":
      return { kind: "lucky_draw", prizes: v.prizes ?? [], draws_per_day: v.draws_per_day ?? 1 };
    case "referral":
      return {
        kind: "referral",
        inviter_benefit_id: v.inviter_benefit_id,
        invitee_benefit_id: v.invitee_benefit_id,
        qualifying_action: v.qualifying_action ?? "first_purchase",
        max_invites: v.max_invites ?? 20,
      };
    case "task":
      return { kind: "task", tasks: v.tasks ?? [] };
  }
}

/** Money is typed in yuan and sent in integer cents (rounded to the cent). */
export function activityDocument(v: ActivityForm): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    name: v.name.trim(),
    template: template(v),
    starts_at: v.starts_at.trim(),
    ends_at: v.ends_at.trim(),
    landing: { title: v.landing_title.trim(), body: (v.landing_body ?? "").trim() },
  };
  if (v.budget_yuan !== undefined && v.budget_yuan !== null) doc.budget_cents = Math.round(v.budget_yuan * 100);
  if (v.kyc_risk_levels && v.kyc_risk_levels.length) doc.eligibility = { kyc_risk_levels: [...v.kyc_risk_levels].sort() };
  return doc;
}

/** The benefits an activity's template gives (as ActivityDefinition.benefit_ids does). */
export function benefitIds(template: unknown): string[] {
  if (!template || typeof template !== "object") return [];
  const t = template as Record<string, unknown>;
  const ids: unknown[] = [t.benefit_id, t.inviter_benefit_id, t.invitee_benefit_id];
  for (const list of [t.rewards, t.prizes, t.tasks])
    if (Array.isArray(list)) for (const x of list) ids.push((x as Record<string, unknown> | null)?.benefit_id);
  return [...new Set(ids.filter((x): x is string => typeof x === "string" && x !== ""))];
}

export interface BenefitRow {
  definition: { id: string; name: string; limits?: { total_stock?: number | null; budget_cents?: number | null } };
  balance: { stock_used: number; budget_used_cents: number };
}

export interface Usage {
  label: string;
  used: number;
  limit: number;
  percent: number;
}

const share = (used: number, limit: number) => Math.min(100, Math.round((used / limit) * 1000) / 10);

/**
 * The usage bars of one activity: its own budget (definition.budget_cents against the value
 * it issued, from its stats), and the stock of each benefit it gives that has a total stock
 * (a benefit's stock is shared by every activity that gives it, so its bar is the benefit's).
 */
export function activityUsage(
  activity: { definition?: { template?: unknown; budget_cents?: number | null } },
  stats: { issued_cost_cents?: number } | undefined,
  benefits: BenefitRow[],
): { budget: Usage | null; stock: Usage[] } {
  const limit = activity.definition?.budget_cents;
  const used = stats?.issued_cost_cents;
  const budget =
    typeof limit === "number" && limit > 0 && typeof used === "number"
      ? { label: "budget", used, limit, percent: share(used, limit) }
      : null;
  const byId = new Map(benefits.map((b) => [b.definition.id, b]));
  const stock: Usage[] = [];
  for (const id of benefitIds(activity.definition?.template)) {
    const b = byId.get(id);
    const total = b?.definition.limits?.total_stock;
    if (!b || typeof total !== "number" || total <= 0) continue;
    stock.push({ label: b.definition.name || id, used: b.balance.stock_used, limit: total, percent: share(b.balance.stock_used, total) });
  }
  return { budget, stock };
}

/** The rules that fired, as the risk engine records them ({fired: [{rule, points, detail}]}). */
export function firedRules(rules: unknown): string {
  const list = rules && typeof rules === "object" && !Array.isArray(rules) ? (rules as { fired?: unknown }).fired : rules;
  if (!Array.isArray(list)) return "";
  return list
    .map((r) => {
      if (!r || typeof r !== "object") return String(r);
      const o = r as { rule?: unknown; points?: unknown; detail?: unknown };
      return `${String(o.rule ?? "")}${o.points !== undefined ? ` +${String(o.points)}` : ""}${o.detail ? `: ${String(o.detail)}` : ""}`;
    })
    .join("; ");
}

/** The step form's default window: from today (Beijing time) for 30 days, never a fixed date. */
export function defaultWindow(now: Date): { starts_at: string; ends_at: string } {
  const day = (d: Date) => new Date(d.getTime() + 8 * 3600_000).toISOString().slice(0, 10); // the +08:00 date
  return {
    starts_at: `${day(now)}T00:00:00+08:00`,
    ends_at: `${day(new Date(now.getTime() + 30 * 86400_000))}T23:59:59+08:00`,
  };
}
