// The activity step form's values → an activity document (docs/activity.md, six
// templates). Pure, so Vitest checks it; the API validates and names a wrong field.

export const TEMPLATES = ["coupon_drop", "sign_in", "lucky_draw", "referral", "task", "quota_test"] as const;
export type TemplateKind = (typeof TEMPLATES)[number];

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
