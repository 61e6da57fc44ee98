import { describe, expect, it } from "vitest";
import { ciBarExtents, ciChartSeries } from "./ciChart";

describe("ciChartSeries", () => {
  it("draws each arm from its CI's low to its high end, also across zero", () => {
    const arms = [
      { arm: "sms", value: 0.0097, low: -0.0241, high: 0.0435 },
      { arm: "push", value: -0.0028, low: -0.0324, high: 0.0268 },
      { arm: "email", value: 0.05, low: 0.02, high: 0.08 },
      { arm: "call", value: -0.05, low: -0.08, high: -0.02 },
    ];
    const extents = ciBarExtents(ciChartSeries(arms));
    arms.forEach((a, i) => {
      expect(extents[i][0]).toBeCloseTo(a.low, 12);
      expect(extents[i][1]).toBeCloseTo(a.high, 12);
    });
  });

  it("puts the point estimate on the bar and leaves arms without a CI empty", () => {
    const s = ciChartSeries([
      { arm: "a", value: 0.01, low: -0.01, high: 0.03 },
      { arm: "b", value: null, low: null, high: null },
    ]);
    expect(s[2].data).toEqual([[0.01, "a"], null]);
    expect(s[0].data[1]).toBeNull();
    expect(s[1].data[1]).toBeNull();
  });
});
