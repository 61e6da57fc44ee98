import { describe, expect, it } from "vitest";
import { attribute, behaviour, group, toDocument, txn, update, type Node } from "./segment";

describe("toDocument", () => {
  it("turns a nested tree into the documented segment JSON", () => {
    const tree = group("and", [
      attribute("kyc_risk_level", ">=", "3"),
      group("or", [attribute("city", "in", ["北京", "上海"]), { ...behaviour(), event: "fund_detail_view", count: 3, last_days: 7 } as Node]),
    ]);
    expect(toDocument("潜客", tree)).toEqual({
      name: "潜客",
      root: {
        kind: "and",
        children: [
          { kind: "attribute", field: "kyc_risk_level", op: ">=", value: 3 },
          {
            kind: "or",
            children: [
              { kind: "attribute", field: "city", op: "in", value: ["北京", "上海"] },
              { kind: "behaviour", step: { event: "fund_detail_view" }, op: ">=", count: 3, last_days: 7 },
            ],
          },
        ],
      },
    });
  });

  it("skips unfinished conditions and empty groups instead of sending invalid JSON", () => {
    const tree = group("and", [attribute("kyc_risk_level", ">=", null), group("or", []), txn()]);
    expect(toDocument("x", tree)).toBeNull();
    const half = group("and", [attribute("income_monthly", ">", "abc"), attribute("dnd", "=", "false")]);
    expect(toDocument("x", half)?.root).toEqual({ kind: "and", children: [{ kind: "attribute", field: "dnd", op: "=", value: false }] });
  });

  it("needs exactly two values for between and none for is_null", () => {
    expect(toDocument("x", attribute("opened_on", "between", ["2024-01-01"]))).toBeNull();
    expect(toDocument("x", attribute("rm_id", "is_null", "ignored"))?.root).toEqual({ kind: "attribute", field: "rm_id", op: "is_null" });
  });
});

describe("update", () => {
  it("deletes and replaces nodes deep in the tree without touching siblings", () => {
    const a = attribute("city", "=", "北京");
    const b = attribute("gender", "=", "F");
    const inner = group("or", [a, b]);
    const root = group("and", [inner]);
    const deleted = update(root, a.id, () => null);
    expect(toDocument("x", deleted)?.root).toEqual({
      kind: "and",
      children: [{ kind: "or", children: [{ kind: "attribute", field: "gender", op: "=", value: "F" }] }],
    });
    expect(toDocument("x", root)).not.toEqual(toDocument("x", deleted));
  });
});

describe("fromDocument", () => {
  it("round-trips what the builder makes", async () => {
    const { fromDocument, toDocument, group, attribute, txn, behaviour } = await import("./segment");
    const t = { ...txn(), value: 5000 };
    const b = { ...behaviour(), event: "fund_purchase", count: 2 };
    const root = group("and", [attribute("kyc_risk_level", ">=", 3), group("or", [t, b, attribute("city", "in", ["上海", "北京"])])]);
    const doc = toDocument("x", root)!;
    const back = fromDocument(doc as { name: string; root: unknown });
    expect(back.name).toBe("x");
    expect(toDocument("x", back.root)).toEqual(doc);
  });
  it("refuses kinds it cannot edit, naming where", async () => {
    const { fromDocument } = await import("./segment");
    expect(() => fromDocument({ root: { kind: "and", children: [{ kind: "rfm", segment: "champions" }] } })).toThrow(/root\.children\[0\].*rfm/);
  });
});

describe("tag conditions", () => {
  it("sends each tag operator with the value it takes, and skips an unfinished one", async () => {
    const { tagCondition, toCondition, fromDocument, toDocument, group } = await import("./segment");
    expect(toCondition(tagCondition("fund_browser_7d", "=", true))).toEqual({ kind: "tag", tag: "fund_browser_7d", op: "=", value: true });
    expect(toCondition(tagCondition("txn_sum_90d", ">=", 5000))).toEqual({ kind: "tag", tag: "txn_sum_90d", op: ">=", value: 5000 });
    expect(toCondition(tagCondition("aum_tier", "in", [">6M", "500k-6M"]))).toEqual({ kind: "tag", tag: "aum_tier", op: "in", value: [">6M", "500k-6M"] });
    expect(toCondition(tagCondition("aum_tier", "has_value", "x"))).toEqual({ kind: "tag", tag: "aum_tier", op: "has_value", value: null });
    expect(toCondition(tagCondition("", "=", true))).toBeNull(); // no tag picked yet
    expect(toCondition(tagCondition("aum_tier", "in", []))).toBeNull();
    expect(toCondition(tagCondition("txn_sum_90d", ">=", null))).toBeNull();
    const doc = toDocument("x", group("and", [tagCondition("aum_tier", "=", ">6M"), tagCondition("vip", "has_value", null)]))!;
    expect(toDocument("x", fromDocument(doc as { name: string; root: unknown }).root)).toEqual(doc);
  });
  it("offers the operators the tag's value type allows", async () => {
    const { tagOps } = await import("./segment");
    expect(tagOps("bool")).toEqual(["=", "!=", "has_value"]);
    expect(tagOps("number")).toContain(">=");
    expect(tagOps("enum")).not.toContain(">=");
    expect(tagOps(undefined)).toEqual(tagOps("text"));
  });
});
