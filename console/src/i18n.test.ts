/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
import { translate } from "./i18n";
import { GROUP_LABELS, KINDS, STATUS_ZH } from "./journey";

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
});
