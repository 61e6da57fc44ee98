/** 1.23亿 / 4,560万 in Chinese; 123.4M in English: bank figures read at a glance. */
export function bigNumber(value: number, lang: "zh-CN" | "en"): string {
  const abs = Math.abs(value);
  if (lang === "zh-CN") {
    if (abs >= 1e8) return `${(value / 1e8).toFixed(2)}亿`;
    if (abs >= 1e4) return `${(value / 1e4).toFixed(1)}万`;
    return value.toLocaleString("zh-CN", { maximumFractionDigits: 2 });
  }
  if (abs >= 1e9) return `${(value / 1e9).toFixed(2)}B`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e3) return `${(value / 1e3).toFixed(1)}K`;
  return value.toLocaleString("en", { maximumFractionDigits: 2 });
}

export function percent(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return `${(x * 100).toFixed(digits)}%`;
}

/** Cents as yuan, ``¥1,234.5``: money is stored in cents (budgets, costs, benefit values). */
export function yuan(cents: number): string {
  return `¥${(cents / 100).toLocaleString(undefined, { maximumFractionDigits: 2 })}`;
}
