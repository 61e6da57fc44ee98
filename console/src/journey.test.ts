import { describe, expect, it } from "vitest";
import { branches, fieldOfError, freshId, fromJourney, nodeOfError, toJourney, type FlowEdge, type FlowNode } from "./journey";

const node = (id: string, kind: string, config = {}): FlowNode => ({ id, kind, config, position: { x: 0, y: 0 } });

describe("branches", () => {
  it("follows each kind's outputs from its config", () => {
    expect(branches("condition", {})).toEqual(["yes", "no"]);
    expect(branches("ab_split", { arms: [{ name: "a" }, { name: "b" }], holdout: 0.1 })).toEqual(["a", "b", "holdout"]);
    expect(branches("ab_split", { arms: [{ name: "x" }], holdout: 0 })).toEqual(["x"]);
    expect(branches("attribute_split", { cases: [{ branch: "f" }] })).toEqual(["f", "other"]);
    expect(branches("send_message", {})).toEqual(["next"]);
    expect(branches("exit", {})).toEqual([]);
  });
});

describe("toJourney", () => {
  it("drops the branch of single-output edges and keeps split branches", () => {
    const nodes = [node("entry", "segment_entry"), node("rich", "condition"), node("sms", "send_message")];
    const edges: FlowEdge[] = [
      { source: "entry", target: "rich", branch: "next" },
      { source: "rich", target: "sms", branch: "yes" },
    ];
    const doc = toJourney("j1", "J", nodes, edges);
    expect(doc.edges).toEqual([{ from: "entry", to: "rich" }, { from: "rich", to: "sms", branch: "yes" }]);
    expect((doc.nodes as unknown[]).length).toBe(3);
  });
});

describe("nodeOfError", () => {
  it("maps a JSON path to the node on the canvas", () => {
    const nodes = [node("a", "segment_entry"), node("b", "wait")];
    const edges: FlowEdge[] = [{ source: "a", target: "b", branch: "next" }];
    expect(nodeOfError("nodes[1].config.delay.amount", nodes, edges)).toBe("b");
    expect(nodeOfError("journey.edges[0].to", nodes, edges)).toBe("a");
    expect(nodeOfError("name", nodes, edges)).toBeNull();
    expect(nodeOfError("nodes[9]", nodes, edges)).toBeNull();
  });
});

describe("freshId", () => {
  it("never reuses an id on the canvas", () => {
    expect(freshId("send_message", new Set())).toBe("send_message");
    expect(freshId("send_message", new Set(["send_message", "send_message_2"]))).toBe("send_message_3");
    expect(freshId("segment_entry", new Set(["x"]))).toBe("segment_entry");
  });
});

describe("fromJourney", () => {
  it("lays a stored document out top-down by depth and keeps branches and on_blocked", () => {
    const [nodes, edges] = fromJourney({
      nodes: [
        { id: "e", kind: "segment_entry", config: {} },
        { id: "c", kind: "condition", config: {} },
        { id: "s", kind: "send_message", config: {}, on_blocked: { action: "skip" } },
        { id: "x", kind: "exit", config: {} },
      ],
      edges: [
        { from: "e", to: "c" },
        { from: "c", to: "s", branch: "yes" },
        { from: "c", to: "x", branch: "no" },
      ],
    });
    const at = Object.fromEntries(nodes.map((n) => [n.id, n.position]));
    expect(at.e.y).toBeLessThan(at.c.y);
    expect(at.c.y).toBeLessThan(at.s.y);
    expect(at.s.y).toBe(at.x.y);
    expect(at.s.x).not.toBe(at.x.x);
    expect(edges).toEqual([
      { source: "e", target: "c", branch: "next" },
      { source: "c", target: "s", branch: "yes" },
      { source: "c", target: "x", branch: "no" },
    ]);
    expect(nodes[2].on_blocked).toEqual({ action: "skip" });
    expect(toJourney("j", "J", nodes, edges).nodes).toEqual([
      { id: "e", kind: "segment_entry", config: {} },
      { id: "c", kind: "condition", config: {} },
      { id: "s", kind: "send_message", config: {}, on_blocked: { action: "skip" } },
      { id: "x", kind: "exit", config: {} },
    ]);
  });

  it("terminates on a cycle through a wait", () => {
    const [nodes] = fromJourney({
      nodes: [
        { id: "e", kind: "api_entry" },
        { id: "w", kind: "wait" },
        { id: "t", kind: "tag" },
      ],
      edges: [
        { from: "e", to: "w" },
        { from: "w", to: "t" },
        { from: "t", to: "w" },
      ],
    });
    expect(nodes.every((n) => Number.isFinite(n.position.y))).toBe(true);
  });
});

describe("fieldOfError", () => {
  it("turns the API's path inside a node into a form field name", () => {
    expect(fieldOfError("nodes[3].config.delay.amount")).toEqual(["config", "delay", "amount"]);
    expect(fieldOfError("nodes[0].config.cases[1].branch")).toEqual(["config", "cases", 1, "branch"]);
    expect(fieldOfError("nodes[2].on_blocked.deadline")).toEqual(["on_blocked", "deadline"]);
    expect(fieldOfError("edges[0].to")).toBeNull();
    expect(fieldOfError(null)).toBeNull();
  });
});

describe("metricLabel", () => {
  it("names a node's counters in the operator's words, keeping unknown ones as they are", async () => {
    const { metricLabel } = await import("./journey");
    const zh = (s: string) => s;
    expect(metricLabel("entered", zh)).toBe("进入");
    expect(metricLabel("branch:yes", zh)).toBe("分支·是");
    expect(metricLabel("suppressed:no_consent", zh)).toBe("被拦截·未授权");
    expect(metricLabel("suppressed:some_new_reason", zh)).toBe("被拦截·some_new_reason");
    expect(metricLabel("brand_new", zh)).toBe("brand_new");
  });
});
