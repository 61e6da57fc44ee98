/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
import { translate } from "./i18n";
import { GROUP_LABELS, KINDS, METRIC_LABELS, STATUS_ZH } from "./journey";
import { ACTIONS_BY_STATUS, TEMPLATE_ZH } from "./activity";
import { COLUMN_ZH, FEATURE_ZH, STAGE_ZH, VALUE_ZH } from "./labels";

const HAN = /[\u4e00-\u9fff]/;

// every source file as text (Vite's glob import, so no Node types are needed)
const SOURCES = import.meta.glob<string>(["./**/*.ts", "./**/*.tsx", "!./**/*.test.ts"], {
  query: "?raw",
  import: "default",
  eager: true,
});

describe("i18n", () => {
  it("has English for every Chinese string the pages pass to t()", () => {
    const missing = new Set<string>();
    expect(Object.keys(SOURCES).length).toBeGreaterThan(20);
    for (const text of Object.values(SOURCES)) {
      for (const m of text.matchAll(/\bt\("([^"]+)"\)/g)) {
        if (HAN.test(m[1]) && translate("en", m[1]) === m[1]) missing.add(m[1]);
      }
    }
    expect([...missing].sort()).toEqual([]);
  });

  it("has English for every Chinese label of the node forms (passed to t() by helpers)", () => {
    const text = SOURCES["./components/NodeForm.tsx"];
    const labels = [...text.matchAll(/"([^"\n]*[\u4e00-\u9fff][^"\n]*)"/g)].map((m) => m[1]);
    expect(labels.length).toBeGreaterThan(40);
    expect(labels.filter((l) => translate("en", l) === l)).toEqual([]);
  });

  it("has English for every node kind and palette group of the canvas", () => {
    const labels = [...Object.values(KINDS).map((k) => k.label), ...Object.values(GROUP_LABELS), ...Object.values(STATUS_ZH)];
    expect(labels.filter((l) => HAN.test(translate("en", l)))).toEqual([]);
  });

  it("has English for every Chinese name of a field, code, template or action shown from data", () => {
    const labels = [
      ...Object.values(COLUMN_ZH),
      ...Object.values(STAGE_ZH),
      ...Object.values(FEATURE_ZH),
      ...Object.values(VALUE_ZH).flatMap((m) => Object.values(m)),
      ...Object.values(TEMPLATE_ZH).flat(),
      ...Object.values(ACTIONS_BY_STATUS).flatMap((xs) => xs.map(([, zh]) => zh)),
      ...METRIC_LABELS,
    ];
    expect(labels.length).toBeGreaterThan(80);
    expect([...new Set(labels.filter((l) => HAN.test(translate("en", l))))].sort()).toEqual([]);
  });
  it("has English for every Chinese string in a label map of a page (passed to t() by variable)", () => {
    const missing = new Set<string>();
    for (const [path, text] of Object.entries(SOURCES)) {
      if (!path.startsWith("./pages/")) continue;
      for (const m of text.matchAll(/_ZH: Record<string, [^=]+= \{([^}]*)\}/g))
        for (const v of m[1].matchAll(/"([^"]*[\u4e00-\u9fff][^"]*)"/g)) if (translate("en", v[1]) === v[1]) missing.add(v[1]);
    }
    expect([...missing].sort()).toEqual([]);
  });
});
