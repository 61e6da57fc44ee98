import { describe, expect, it } from "vitest";
import { CHANNELS, KINDS } from "./journey";
import { cleanCondition, fromFormValues, toFormValues } from "./nodeForm";

describe("node forms", () => {
  it("round-trip every kind's default config unchanged", () => {
    for (const [kind, spec] of Object.entries(KINDS)) {
      const back = fromFormValues(kind, toFormValues(kind, spec.config));
      expect(back.config, kind).toEqual(
        kind === "send_message" ? { ...spec.config, business_line: "general", marketing: true } : kind === "wait" ? { ...spec.config, business_day: false } : spec.config,
      );
    }
  });

  it("keep exactly one of the document's alternatives (saved vs inline, delay vs until, field vs tag)", () => {
    const seg = toFormValues("segment_entry", KINDS.segment_entry.config);
    expect(seg.ui).toEqual({ source: "inline", schedule: "once" });
    const saved = fromFormValues("segment_entry", { ...seg, ui: { source: "saved", schedule: "cron" }, config: { ...seg.config, segment_id: "vip", schedule: "0 9 * * 1" } });
    expect(saved.config).toEqual({ segment_id: "vip", schedule: "0 9 * * 1" });
    const wait = toFormValues("wait", { delay: { amount: 2, unit: "hours" } });
    expect(fromFormValues("wait", { ...wait, ui: { mode: "until" }, config: { ...wait.config, until: "09:30" } }).config).toEqual({ until: "09:30", business_day: false });
    const split = toFormValues("attribute_split", { tag: "vip", cases: [{ branch: "y", values: ["1"] }] });
    expect(split.ui.by).toBe("tag");
    expect(fromFormValues("attribute_split", split).config).toEqual({ tag: "vip", cases: [{ branch: "y", values: ["1"] }] });
  });

  it("type the values typed into text boxes by the field's type", () => {
    expect(cleanCondition({ kind: "attribute", field: "kyc_risk_level", op: ">=", value: "4" })).toEqual({ kind: "attribute", field: "kyc_risk_level", op: ">=", value: 4 });
    expect(cleanCondition({ kind: "attribute", field: "is_active", op: "=", value: "true" }).value).toBe(true);
    expect(cleanCondition({ kind: "attribute", field: "city", op: "=", value: "10" }).value).toBe("10");
    expect(cleanCondition({ kind: "attribute", field: "city", op: "is_null", value: "x" })).toEqual({ kind: "attribute", field: "city", op: "is_null" });
    const behaviour = { kind: "behaviour", step: { event: "login" }, last_days: 7 };
    expect(cleanCondition(behaviour)).toBe(behaviour); // built elsewhere: kept as it is
    const split = fromFormValues("attribute_split", { config: { field: "kyc_risk_level", cases: [{ branch: "hi", values: ["4", "5"] }] }, ui: { by: "field" } });
    expect(split.config.cases).toEqual([{ branch: "hi", values: [4, 5] }]);
  });

  it("show the API's defaults a config leaves out (the marketing switch is on)", () => {
    const v = toFormValues("send_message", { channel: "sms", template_id: "t" });
    expect(v.config).toMatchObject({ marketing: true, business_line: "general", cost_cents: 0 });
    expect(toFormValues("send_message", { channel: "sms", template_id: "t", marketing: false }).config.marketing).toBe(false);
  });

  it("give blockable actions on_blocked, with a deadline only when they wait", () => {
    const v = toFormValues("send_message", KINDS.send_message.config);
    expect(v.on_blocked).toEqual({ action: "exit" });
    expect(fromFormValues("send_message", { ...v, on_blocked: { action: "skip", deadline: { amount: 1, unit: "days" } } }).on_blocked).toEqual({ action: "skip" });
    expect(fromFormValues("send_message", { ...v, on_blocked: { action: "wait", deadline: { amount: 2, unit: "days" } } }).on_blocked).toEqual({
      action: "wait",
      deadline: { amount: 2, unit: "days" },
    });
    expect(toFormValues("tag", KINDS.tag.config).on_blocked).toBeUndefined();
    expect(fromFormValues("tag", toFormValues("tag", KINDS.tag.config)).on_blocked).toBeUndefined();
  });

  it("give the file entry its column and row cap, defaults filled and the column trimmed", () => {
    expect(KINDS.file_entry.group).toBe("entry");
    const v = toFormValues("file_entry", {});
    expect(v.config).toEqual({ id_column: "customer_id", max_rows: 100000 });
    expect(fromFormValues("file_entry", { ...v, config: { id_column: " 客户号 ", max_rows: 500 } }).config).toEqual({ id_column: "客户号", max_rows: 500 });
    expect(fromFormValues("file_entry", { ...v, config: { id_column: "  " } }).config).toEqual({ id_column: "customer_id", max_rows: 100000 });
  });

  it("send a slot block for (and only for) the slot channel, blank URLs left out", () => {
    expect(CHANNELS).toContain("slot");
    const v = toFormValues("send_message", { channel: "slot", template_id: "t", slot: { slot: "home_banner", title: "理财节" } });
    expect(v.config.slot).toEqual({ slot: "home_banner", title: "理财节", priority: 0, hours: 24 });
    const filled = { ...v, config: { ...v.config, slot: { ...(v.config.slot as object), image_url: " ", link: "https://bank.example/x", hours: 48 } } };
    expect(fromFormValues("send_message", filled).config.slot).toEqual({
      slot: "home_banner",
      title: "理财节",
      priority: 0,
      hours: 48,
      link: "https://bank.example/x",
    });
    const sms = fromFormValues("send_message", { ...filled, config: { ...filled.config, channel: "sms" } });
    expect(sms.config).not.toHaveProperty("slot");
  });
});
