import { describe, expect, it } from "vitest";
import { attributionDocument, eventDocument, eventSeries, retentionCurve } from "./analysis";

describe("analysis documents", () => {
  it("builds an event document, the property only for sums", () => {
    const base = { event: " app_open ", interval: "month", start: "2025-01-01", end: "2025-03-31" };
    expect(eventDocument({ ...base, measure: "count", property: "amount" })).toEqual({
      kind: "event",
      event: { event: "app_open" },
      measure: "count",
      interval: "month",
      start: "2025-01-01",
      end: "2025-03-31",
    });
    expect(eventDocument({ ...base, measure: "sum", property: "amount", by: "product_id" })).toMatchObject({ property: "amount", by: "product_id" });
  });
  it("splits the attribution touches on commas and spaces", () => {
    const d = attributionDocument({ conversion: "fund_purchase", touches: "a, b，c  d", model: "linear", lookback_days: 7, start: "s", end: "e" });
    expect(d.touches).toEqual(["a", "b", "c", "d"]);
  });
});

describe("eventSeries", () => {
  it("aligns groups on the sorted periods and fills gaps with 0", () => {
    const s = eventSeries([
      { period: "2025-02-01", group: "x", value: 2 },
      { period: "2025-01-01", group: "x", value: 1 },
      { period: "2025-02-01", group: "y", value: 5 },
    ]);
    expect(s.periods).toEqual(["2025-01-01", "2025-02-01"]);
    expect(s.series).toEqual([
      { name: "x", data: [1, 2] },
      { name: "y", data: [0, 5] },
    ]);
  });
});

describe("retentionCurve", () => {
  it("weights cohorts by size and skips cohorts too young for a period", () => {
    const c = retentionCurve([
      { cohort: "a", size: 10, retained: [10, 5, 2], rate: [] },
      { cohort: "b", size: 30, retained: [30, 3], rate: [] },
    ]);
    expect(c).toEqual([1, 8 / 40, 2 / 10]);
  });
});
