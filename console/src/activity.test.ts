import { describe, expect, it } from "vitest";
import { activityDocument, type ActivityForm } from "./activity";

const base: ActivityForm = {
  template: "coupon_drop",
  benefit_id: "c10",
  name: " 春季领券 ",
  starts_at: "2026-12-01T00:00:00+08:00",
  ends_at: "2026-12-31T23:59:59+08:00",
  landing_title: "满100减10",
};

describe("activityDocument", () => {
  it("builds a coupon drop with only the fields given", () => {
    expect(activityDocument(base)).toEqual({
      name: "春季领券",
      template: { kind: "coupon_drop", benefit_id: "c10" },
      starts_at: "2026-12-01T00:00:00+08:00",
      ends_at: "2026-12-31T23:59:59+08:00",
      landing: { title: "满100减10", body: "" },
    });
  });
  it("turns yuan into whole cents and sorts KYC levels", () => {
    const d = activityDocument({ ...base, budget_yuan: 1234.567, kyc_risk_levels: [3, 1] });
    expect(d.budget_cents).toBe(123457);
    expect(d.eligibility).toEqual({ kyc_risk_levels: [1, 3] });
  });
  it("keeps each template's own fields", () => {
    const draw = activityDocument({ ...base, template: "lucky_draw", prizes: [{ benefit_id: "c10", probability: 0.1 }] });
    expect(draw.template).toEqual({ kind: "lucky_draw", prizes: [{ benefit_id: "c10", probability: 0.1 }], draws_per_day: 1 });
    const ref = activityDocument({ ...base, template: "referral", inviter_benefit_id: "a", invitee_benefit_id: "b" });
    expect(ref.template).toEqual({ kind: "referral", inviter_benefit_id: "a", invitee_benefit_id: "b", qualifying_action: "first_purchase", max_invites: 20 });
  });
});
