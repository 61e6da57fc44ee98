import { describe, expect, it } from "vitest";
import { categoryTree, distributionRows, flowSankey, inCategory } from "./insight";

describe("categoryTree", () => {
  it("nests paths and counts the tags under each node", () => {
    const tree = categoryTree([{ category: "资产/AUM" }, { category: "资产/交易" }, { category: "行为/理财" }, { category: "资产/AUM" }]);
    expect(tree.map((n) => [n.key, n.count])).toEqual([
      ["行为", 1],
      ["资产", 3],
    ]);
    const asset = tree[1];
    expect(asset.children.map((n) => [n.key, n.title, n.count])).toEqual([
      ["资产/AUM", "AUM", 2],
      ["资产/交易", "交易", 1],
    ]);
  });
});

describe("inCategory", () => {
  it("matches whole names only", () => {
    expect(inCategory({ category: "资产/AUM" }, "资产")).toBe(true);
    expect(inCategory({ category: "资产/AUM" }, "资产/AUM")).toBe(true);
    expect(inCategory({ category: "资产X/AUM" }, "资产")).toBe(false);
    expect(inCategory({ category: "行为" }, null)).toBe(true);
  });
});

describe("distributionRows", () => {
  it("reads enum, bool and number distributions", () => {
    expect(distributionRows({ labels: { a: 2, b: 3 } })).toEqual({
      kind: "counts",
      rows: [
        { label: "a", customers: 2 },
        { label: "b", customers: 3 },
      ],
    });
    expect(distributionRows({ true: 4, false: 6 }).rows).toEqual([
      { label: "true", customers: 4 },
      { label: "false", customers: 6 },
    ]);
    const n = distributionRows({ min: 0, median: 5, max: 9 });
    expect(n).toEqual({ kind: "stats", rows: [{ stat: "min", value: 0 }, { stat: "median", value: 5 }, { stat: "max", value: 9 }] });
  });
});

describe("flowSankey", () => {
  it("splits each side by month so a stay is not a cycle, and keeps every customer", () => {
    const links = [
      { source: "mature", target: "mature", customers: 10 },
      { source: "mature", target: "churned", customers: 2 },
      { source: "absent", target: "new", customers: 3 },
      { source: "new", target: "absent", customers: 0 },
    ];
    const s = flowSankey(links, "2025-02-28", "2025-03-31", (x) => x);
    expect(s.links).toEqual([
      { source: "2025-02 mature", target: "2025-03 mature", value: 10 },
      { source: "2025-02 mature", target: "2025-03 churned", value: 2 },
      { source: "2025-02 absent", target: "2025-03 new", value: 3 },
    ]);
    const names = s.nodes.map((n) => n.name);
    expect(new Set(names).size).toBe(names.length);
    for (const l of s.links) expect(l.source.startsWith("2025-02") && l.target.startsWith("2025-03")).toBe(true);
    expect(s.links.reduce((a, l) => a + l.value, 0)).toBe(15);
  });
});
