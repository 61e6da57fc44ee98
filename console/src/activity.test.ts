import { describe, expect, it } from "vitest";
import { activityDocument, activityUsage, benefitIds, defaultWindow, firedRules, type ActivityForm, type BenefitRow } from "./activity";

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

describe("activityUsage", () => {
  const benefit = (id: string, total: number | null, used: number): BenefitRow => ({
    definition: { id, name: `券${id}`, limits: { total_stock: total } },
    balance: { stock_used: used, budget_used_cents: 0 },
  });
  it("finds the benefits of every template kind", () => {
    expect(benefitIds({ kind: "coupon_drop", benefit_id: "c10" })).toEqual(["c10"]);
    expect(benefitIds({ kind: "lucky_draw", prizes: [{ benefit_id: "a" }, { benefit_id: "b" }, { benefit_id: "a" }] })).toEqual(["a", "b"]);
    expect(benefitIds({ kind: "referral", inviter_benefit_id: "x", invitee_benefit_id: "y" })).toEqual(["x", "y"]);
    expect(benefitIds({ kind: "task", tasks: [{ action: "login", benefit_id: "t" }] })).toEqual(["t"]);
    expect(benefitIds(null)).toEqual([]);
  });
  it("draws the budget from the definition and the stats, the stock from the benefit", () => {
    const got = activityUsage(
      { definition: { template: { kind: "lucky_draw", prizes: [{ benefit_id: "a" }, { benefit_id: "b" }] }, budget_cents: 50_000 } },
      { issued_cost_cents: 12_500 },
      [benefit("a", 100, 37), benefit("b", null, 5)],
    );
    expect(got.budget).toEqual({ label: "budget", used: 12_500, limit: 50_000, percent: 25 });
    expect(got.stock).toEqual([{ label: "券a", used: 37, limit: 100, percent: 37 }]); // b has no stock cap
  });
  it("has no bars when nothing is capped, and caps the bar at 100", () => {
    expect(activityUsage({ definition: { template: { benefit_id: "a" } } }, { issued_cost_cents: 5 }, [])).toEqual({ budget: null, stock: [] });
    const over = activityUsage({ definition: { template: { benefit_id: "a" }, budget_cents: 10 } }, { issued_cost_cents: 30 }, [benefit("a", 2, 3)]);
    expect(over.budget?.percent).toBe(100);
    expect(over.stock[0].percent).toBe(100);
  });
});

describe("firedRules", () => {
  it("reads the decision's rules as the risk engine records them", () => {
    const rules = { fired: [{ rule: "velocity.device", points: 50, detail: "5 attempts > 3" }, { rule: "account.new", points: 20, detail: "" }] };
    expect(firedRules(rules)).toBe("velocity.device +50: 5 attempts > 3; account.new +20");
    expect(firedRules({})).toBe("");
    expect(firedRules(null)).toBe("");
  });
});

describe("defaultWindow", () => {
  it("starts today in Beijing time and lasts 30 days", () => {
    // 2027-03-01 20:00 UTC is already 2027-03-02 in Beijing
    expect(defaultWindow(new Date("2027-03-01T20:00:00Z"))).toEqual({
      starts_at: "2027-03-02T00:00:00+08:00",
      ends_at: "2027-04-01T23:59:59+08:00",
    });
  });
});
