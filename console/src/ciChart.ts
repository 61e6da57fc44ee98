// The experiment page's interval chart: one horizontal bar per arm from the CI's low to
// its high end, the point estimate on it, and a line at zero (no difference).
//
// A bar is drawn as a transparent base (the low end) with the interval's width stacked on
// it. ECharts stacks negative and positive values separately by default ("samesign"), so
// an interval that straddles zero — the usual case — was drawn from 0 to its width;
// stackStrategy "all" stacks the width on the base whatever their signs.

export interface CiArm {
  arm: string;
  value: number | null;
  low: number | null;
  high: number | null;
}

export interface CiSeries {
  type: "bar" | "scatter";
  stack?: string;
  stackStrategy?: "all";
  name?: string;
  silent?: boolean;
  data: (number | null | [number, string])[];
  [key: string]: unknown;
}

export function ciChartSeries(arms: CiArm[], name = "95% CI"): CiSeries[] {
  const ok = (a: CiArm) => a.low !== null && a.high !== null;
  return [
    {
      type: "bar",
      stack: "ci",
      stackStrategy: "all",
      silent: true,
      itemStyle: { color: "transparent" },
      tooltip: { show: false },
      data: arms.map((a) => (ok(a) ? a.low : null)),
    },
    {
      type: "bar",
      stack: "ci",
      stackStrategy: "all",
      name,
      itemStyle: { color: "rgba(22,119,255,0.35)", borderColor: "#1677ff" },
      tooltip: { show: false },
      markLine: { silent: true, symbol: "none", lineStyle: { color: "#999", type: "dashed" }, data: [{ xAxis: 0 }] },
      data: arms.map((a) => (ok(a) ? (a.high as number) - (a.low as number) : null)),
    },
    {
      type: "scatter",
      name: "Δ",
      symbolSize: 10,
      itemStyle: { color: "#1677ff" },
      // [x, category]: a scatter on a category y axis needs both coordinates.
      data: arms.map((a) => (a.value === null ? null : [a.value, a.arm])),
    },
  ];
}

/** Where each arm's bar starts and ends once the series are stacked (what ECharts draws). */
export function ciBarExtents(series: CiSeries[]): [number, number][] {
  const [base, width] = series;
  return base.data.map((b, i) => {
    const w = width.data[i];
    if (typeof b !== "number" || typeof w !== "number") return [NaN, NaN];
    // With ECharts' default "samesign", a positive width stacks on the positive values
    // only: on 0 when the base is negative.
    const all = base.stackStrategy === "all" && width.stackStrategy === "all";
    const start = all || b >= 0 ? b : 0;
    return [start, start + w];
  });
}
