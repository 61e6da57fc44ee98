import { describe, expect, it } from "vitest";
import { cellText, columnTitle, reasonsText } from "./labels";

const zh = (s: string) => s;
const en = (s: string) => ({ 客户号: "Customer ID", 被策略拦截: "Suppressed by policy" })[s] ?? s;

describe("labels", () => {
  it("names known columns and keeps unknown ones as the API sends them", () => {
    expect(columnTitle("customer_id", zh)).toBe("客户号");
    expect(columnTitle("customer_id", en)).toBe("Customer ID");
    expect(columnTitle("brand_new_field", zh)).toBe("brand_new_field");
  });
  it("shows codes in words, times without the T, objects as JSON, nothing for null", () => {
    expect(cellText("kind", "suppressed", zh)).toBe("被策略拦截");
    expect(cellText("kind", "fund_redeem", zh)).toBe("基金赎回");
    expect(cellText("kind", "some_new_kind", zh)).toBe("some_new_kind");
    expect(cellText("at", "2026-12-08T01:54:59.123+00:00", zh)).toBe("2026-12-08 01:54:59");
    expect(cellText("properties", { a: 1 }, zh)).toBe('{"a":1}');
    expect(cellText("reason", null, zh)).toBe("");
  });
  it("reads a model's reasons, as a JSON string or a list", () => {
    const reasons = [{ feature: "aum_ratio_3m", value: 0.64 }, { feature: "txn_30d", value: 0 }, { feature: "new_feature", value: 1 }];
    expect(reasonsText(reasons, zh)).toBe("资产较3个月前=0.64; 近30天交易笔数=0; new_feature=1");
    expect(reasonsText(JSON.stringify(reasons.slice(0, 1)), zh)).toBe("资产较3个月前=0.64");
    expect(reasonsText("not json", zh)).toBe("not json");
  });
});
