import type { Me } from "./api";

/** "/HO/B07/S03/" → "B07/S03"; the head office root is the whole bank. */
export function scopeLabel(me: Pick<Me, "org_path" | "rm_id" | "own_customers_only" | "kind">, t: (s: string) => string): string {
  if (me.kind === "local") return t("本地操作员");
  const parts = me.org_path.split("/").filter(Boolean);
  const org = parts.length <= 1 ? t("全行") : parts.slice(1).join("/");
  return me.own_customers_only && me.rm_id ? `${org} · ${t("客户经理")} ${me.rm_id}` : org;
}
