"""First load of the console's home page against a running server (goal ≤ 2 s).

    .venv/bin/python bench/console_load.py --url http://127.0.0.1:8000 --user ops \
        --password-env OPSLOOP_BENCH_PASSWORD [--runs 5] [--baseline-url URL]

Each run is a fresh browser context (empty cache, as a first visit after sign-in):
navigation start → KPI cards and both home charts drawn. Baselines in the same run: the
bare `GET /api/v1/dashboard` call (what the page waits on) with httpx, and with
`--baseline-url` the same page measurement against a second server (e.g. the previous
build on a copy of the same bank), alternating run by run so both see the same machine
load. Prints one JSON object with medians, ratios, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# Where the time goes, from the browser's own clocks (ms since navigation start).
PHASES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const api = res.find((r) => r.name.endsWith('/api/v1/dashboard'));
  const js = res.filter((r) => r.name.endsWith('.js'));
  return {
    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    js_bytes: js.reduce((a, r) => a + (r.decodedBodySize || 0), 0),
    js_last_response_end_ms: Math.max(...js.map((r) => r.responseEnd)),
    dashboard_request_start_ms: api ? api.startTime : null,
    dashboard_response_end_ms: api ? api.responseEnd : null,
    charts_drawn_ms: performance.now(),
  };
}"""


def _dashboard_api(url: str, user: str, password: str, runs: int) -> list[float]:
    api: list[float] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        resp = client.post("/api/v1/auth/login", json={"username": user, "password": password})
        resp.raise_for_status()
        client.headers["cookie"] = f"opsloop_session={resp.cookies['opsloop_session']}"
        for _ in range(runs):
            t0 = time.perf_counter()
            client.get("/api/v1/dashboard").raise_for_status()
            api.append(time.perf_counter() - t0)
    return api


def _first_load(browser: Browser, url: str, user: str, password: str) -> tuple[float, Any]:
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    page.goto(url + "/")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("[data-testid=login-submit]")
    page.wait_for_selector("[data-testid=chart-aum] canvas")
    # first load after sign-in, with an empty HTTP cache (new context shares none)
    fresh = browser.new_context(
        viewport={"width": 1440, "height": 900}, storage_state=ctx.storage_state()
    )
    pg = fresh.new_page()
    pg.set_default_timeout(120_000)
    t0 = time.perf_counter()
    pg.goto(url + "/")
    pg.wait_for_selector("[data-testid=chart-aum] canvas")
    pg.wait_for_selector("[data-testid=chart-customers] canvas")
    seconds = time.perf_counter() - t0
    phases = pg.evaluate(PHASES)
    fresh.close()
    ctx.close()
    return seconds, phases


def _summary(page_s: list[float], phases: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "home_first_load_s_median": round(statistics.median(page_s), 3),
        "home_first_load_s_all": [round(x, 3) for x in page_s],
        "phases_ms_median": {
            k: round(statistics.median(float(ph[k] or 0) for ph in phases), 1) for k in phases[0]
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--baseline-url", default=None, help="a second server to compare with")
    ap.add_argument("--user", default="ops")
    ap.add_argument("--password-env", default="OPSLOOP_BENCH_PASSWORD")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    password = os.environ[a.password_env]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    api = _dashboard_api(a.url, a.user, password, a.runs)
    if a.baseline_url:
        _dashboard_api(a.baseline_url, a.user, password, 1)  # its dashboard cache warm too
    page_s: list[float] = []
    phases: list[dict[str, float]] = []
    base_s: list[float] = []
    base_phases: list[dict[str, float]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        for i in range(a.runs):
            order = [(a.url, page_s, phases)]
            if a.baseline_url:
                pair = (a.baseline_url, base_s, base_phases)
                order = [pair, *order] if i % 2 == 0 else [*order, pair]
            for url, times, ph in order:
                seconds, phase = _first_load(browser, url, a.user, password)
                times.append(seconds)
                ph.append(phase)
        browser.close()
    out: dict[str, Any] = {
        "bench": "console_home_first_load",
        "url": a.url,
        "runs": a.runs,
        **_summary(page_s, phases),
        "baseline_dashboard_api_s_median": round(statistics.median(api), 3),
        "ratio_page_to_api": round(statistics.median(page_s) / statistics.median(api), 2),
        "goal_s": 2.0,
    }
    if a.baseline_url:
        out["baseline_build"] = {"url": a.baseline_url, **_summary(base_s, base_phases)}
        out["ratio_to_baseline_build"] = round(
            statistics.median(page_s) / statistics.median(base_s), 2
        )
    out["loadavg_before"] = load_before
    out["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
