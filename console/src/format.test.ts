import { describe, expect, it } from "vitest";
import { yuan } from "./format";

describe("yuan", () => {
  it("shows cents as yuan with at most two decimals", () => {
    expect(yuan(1000)).toBe(`¥${(10).toLocaleString()}`);
    expect(yuan(123456)).toBe(`¥${(1234.56).toLocaleString()}`);
    expect(yuan(5)).toBe(`¥${(0.05).toLocaleString()}`);
  });
});
