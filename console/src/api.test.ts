import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, describeError, getPrefetched, prefetch } from "./api";

const reply = (status: number, body: unknown) =>
  Promise.resolve(new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } }));

afterEach(() => vi.unstubAllGlobals());

describe("describeError", () => {
  it("reads the API's message and where, and FastAPI's 422 lists", () => {
    expect(describeError(400, { detail: "bad channel", where: "nodes[2].config.channel" })).toEqual({
      message: "bad channel",
      where: "nodes[2].config.channel",
    });
    const v = describeError(422, { detail: [{ loc: ["query", "months"], msg: "too small" }] });
    expect(v.message).toBe("query.months: too small");
    expect(describeError(502, "<html>")).toEqual({ message: "HTTP 502", where: null });
  });
});

describe("prefetch", () => {
  it("hands the prefetched answer to the page once, then asks again", async () => {
    const fetch = vi.fn(() => reply(200, { n: 1 }));
    vi.stubGlobal("fetch", fetch);
    prefetch("/api/v1/x");
    expect(await getPrefetched("/api/v1/x")).toEqual({ n: 1 });
    expect(fetch).toHaveBeenCalledTimes(1);
    await getPrefetched("/api/v1/x");
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it("asks again when the prefetch failed (not signed in yet)", async () => {
    const fetch = vi.fn().mockReturnValueOnce(reply(401, { detail: "sign in" })).mockReturnValueOnce(reply(200, { ok: true }));
    vi.stubGlobal("fetch", fetch);
    prefetch("/api/v1/y");
    expect(await getPrefetched("/api/v1/y")).toEqual({ ok: true });
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it("raises ApiError with status and where for a failing call", async () => {
    vi.stubGlobal("fetch", vi.fn(() => reply(404, { detail: "no such table", where: "table" })));
    await expect(getPrefetched("/api/v1/z")).rejects.toMatchObject({ status: 404, where: "table" });
    await expect(getPrefetched("/api/v1/z")).rejects.toBeInstanceOf(ApiError);
  });
});

describe("early prefetch", () => {
  it("adopts the request public/prefetch.js started before the bundle loaded", async () => {
    const fetch = vi.fn(() => reply(200, { late: true }));
    vi.stubGlobal("fetch", fetch);
    window.__opsloopPrefetch = { "/api/v1/d": reply(200, { early: true }) };
    prefetch("/api/v1/d");
    expect(await getPrefetched("/api/v1/d")).toEqual({ early: true });
    expect(fetch).not.toHaveBeenCalled();
    expect(window.__opsloopPrefetch["/api/v1/d"]).toBeUndefined();
  });
});

describe("isMissing", () => {
  it("is the router's bare 404 or a 405, never a 404 the API explains", async () => {
    const { isMissing } = await import("./api");
    expect(isMissing(new ApiError(404, "Not Found"))).toBe(true);
    expect(isMissing(new ApiError(405, "Method Not Allowed"))).toBe(true);
    expect(isMissing(new ApiError(404, "unknown table 'x'", "table"))).toBe(false);
    expect(isMissing(new ApiError(404, "no customer 7"))).toBe(false);
    expect(isMissing(new Error("Not Found"))).toBe(false);
  });
});
