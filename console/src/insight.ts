// Pure shaping of the insight pages' API data: the tag category tree, a tag's last-run
// distribution as rows, and a month-over-month flow as an acyclic ECharts Sankey.

export interface RunSummary {
  tag: string;
  as_of: string;
  customers: number;
  with_value: number;
  coverage: number;
  distribution: Record<string, unknown>;
  seconds: number;
}

export interface TagInfo {
  name: string;
  title: string;
  owner: string;
  category: string;
  type: string;
  value_type: string;
  schedule: string | null;
  description: string;
  last_run: RunSummary | null;
}

export interface CategoryNode {
  key: string; // the path so far, "资产/AUM"
  title: string; // the last name, "AUM"
  count: number; // tags in this subtree
  children: CategoryNode[];
}

/** The category paths ("资产/存款") as a tree, each node counting the tags under it. */
export function categoryTree(tags: Pick<TagInfo, "category">[]): CategoryNode[] {
  const roots: CategoryNode[] = [];
  for (const tag of tags) {
    let level = roots;
    let path = "";
    for (const name of tag.category.split("/")) {
      path = path ? `${path}/${name}` : name;
      let node = level.find((n) => n.key === path);
      if (!node) {
        node = { key: path, title: name, count: 0, children: [] };
        level.push(node);
      }
      node.count += 1;
      level = node.children;
    }
  }
  const sort = (nodes: CategoryNode[]): CategoryNode[] =>
    nodes.sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : 0)).map((n) => ({ ...n, children: sort(n.children) }));
  return sort(roots);
}

/** Whether a tag sits in the category subtree `path` (a whole-name prefix; null = all). */
export function inCategory(tag: Pick<TagInfo, "category">, path: string | null): boolean {
  return path === null || tag.category === path || tag.category.startsWith(path + "/");
}

export type DistributionRows = { kind: "counts"; rows: { label: string; customers: number }[] } | { kind: "stats"; rows: { stat: string; value: number }[] };

const STATS = ["min", "p25", "median", "p75", "max", "mean"];

/** enum → {labels: {l: n}}, bool → {true: n, false: n}, number → {min, p25, …, mean}. */
export function distributionRows(dist: Record<string, unknown>): DistributionRows {
  if (dist.labels && typeof dist.labels === "object") {
    const rows = Object.entries(dist.labels as Record<string, number>).map(([label, customers]) => ({ label, customers }));
    return { kind: "counts", rows };
  }
  if ("true" in dist || "false" in dist) {
    return {
      kind: "counts",
      rows: ["true", "false"].map((label) => ({ label, customers: Number(dist[label] ?? 0) })),
    };
  }
  const rows = STATS.filter((s) => typeof dist[s] === "number").map((stat) => ({ stat, value: dist[stat] as number }));
  return { kind: "stats", rows };
}

export interface FlowLink {
  source: string;
  target: string;
  customers: number;
}

/**
 * ECharts' Sankey refuses cycles, and "mature → mature" would be one: each side gets
 * its own node, named with its month ("2025-02 mature" → "2025-03 mature").
 */
export function flowSankey(links: FlowLink[], fromMonth: string, toMonth: string, label: (s: string) => string) {
  const a = fromMonth.slice(0, 7);
  const b = toMonth.slice(0, 7);
  const names = new Set<string>();
  const out = links
    .filter((l) => l.customers > 0)
    .map((l) => {
      const source = `${a} ${label(l.source)}`;
      const target = `${b} ${label(l.target)}`;
      names.add(source);
      names.add(target);
      return { source, target, value: l.customers };
    });
  return { nodes: [...names].sort().map((name) => ({ name })), links: out };
}
