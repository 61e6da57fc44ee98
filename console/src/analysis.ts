// Analysis documents (docs/analyses.md) built from the monitoring pages' forms, and their
// answers shaped for charts. Pure, so Vitest checks them.

export interface Range {
  start: string;
  end: string;
}

const words = (s: string) =>
  s
    .split(/[\s,，]+/)
    .map((w) => w.trim())
    .filter(Boolean);

export function eventDocument(v: Range & { event: string; measure: string; property?: string; interval: string; by?: string }) {
  const doc: Record<string, unknown> = { kind: "event", event: { event: v.event.trim() }, measure: v.measure, interval: v.interval, start: v.start, end: v.end };
  if (v.measure === "sum" && v.property) doc.property = v.property.trim();
  if (v.by && v.by.trim()) doc.by = v.by.trim();
  return doc;
}

export function retentionDocument(v: Range & { initial: string; returning: string; unit: string; periods: number }) {
  return { kind: "retention", initial: { event: v.initial.trim() }, returning: { event: v.returning.trim() }, unit: v.unit, periods: v.periods, start: v.start, end: v.end };
}

export function pathDocument(v: Range & { anchor: string; direction: string; depth: number; top: number }) {
  return { kind: "path", anchor: { event: v.anchor.trim() }, direction: v.direction, depth: v.depth, top: v.top, start: v.start, end: v.end };
}

export function attributionDocument(v: Range & { conversion: string; touches: string; model: string; lookback_days: number }) {
  return { kind: "attribution", conversion: { event: v.conversion.trim() }, touches: words(v.touches), model: v.model, lookback_days: v.lookback_days, start: v.start, end: v.end };
}

export interface EventRow {
  period: string;
  group?: string | null;
  value: number;
}

/** Event rows → one line per group over the sorted periods (a missing period is 0). */
export function eventSeries(rows: EventRow[]): { periods: string[]; series: { name: string; data: number[] }[] } {
  const periods = [...new Set(rows.map((r) => r.period))].sort();
  const groups = [...new Set(rows.map((r) => r.group ?? "(all)"))].sort();
  const at = new Map(rows.map((r) => [`${r.group ?? "(all)"}\u0000${r.period}`, r.value]));
  return { periods, series: groups.map((g) => ({ name: g, data: periods.map((p) => at.get(`${g}\u0000${p}`) ?? 0) })) };
}

export interface Cohort {
  cohort: string;
  size: number;
  retained: number[];
  rate: number[];
}

/** The size-weighted retention curve over cohorts: Σ retained[n] / Σ size of cohorts with period n. */
export function retentionCurve(cohorts: Cohort[]): number[] {
  const n = Math.max(0, ...cohorts.map((c) => c.retained.length));
  return Array.from({ length: n }, (_, i) => {
    const have = cohorts.filter((c) => i < c.retained.length && c.size > 0);
    const size = have.reduce((a, c) => a + c.size, 0);
    return size ? have.reduce((a, c) => a + c.retained[i], 0) / size : 0;
  });
}
