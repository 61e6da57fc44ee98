"""First load of the console's home page against a running server (goal ≤ 2 s).

    .venv/bin/python bench/console_load.py --url http://127.0.0.1:8000 --user ops \
        --password-env OPSLOOP_BENCH_PASSWORD [--runs 5]

Each run is a fresh browser context (empty cache, as a first visit after sign-in):
navigation start → KPI cards and both home charts drawn. Baseline in the same run: the
bare `GET /api/v1/dashboard` call (what the page waits on) with httpx. Prints one JSON
object with medians, the ratio, and the load average next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--user", default="ops")
    ap.add_argument("--password-env", default="OPSLOOP_BENCH_PASSWORD")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    password = os.environ[a.password_env]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    api: list[float] = []
    with httpx.Client(base_url=a.url, timeout=120) as client:
        resp = client.post("/api/v1/auth/login", json={"username": a.user, "password": password})
        resp.raise_for_status()
        client.headers["cookie"] = f"opsloop_session={resp.cookies['opsloop_session']}"
        for _ in range(a.runs):
            t0 = time.perf_counter()
            client.get("/api/v1/dashboard").raise_for_status()
            api.append(time.perf_counter() - t0)
    page_s: list[float] = []
    phases: list[dict[str, float]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        for _ in range(a.runs):
            ctx = browser.new_context(viewport={"width": 1440, "height": 900})
            page = ctx.new_page()
            page.set_default_timeout(120_000)
            page.goto(a.url + "/")
            page.fill("#username", a.user)
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
            pg.goto(a.url + "/")
            pg.wait_for_selector("[data-testid=chart-aum] canvas")
            pg.wait_for_selector("[data-testid=chart-customers] canvas")
            page_s.append(time.perf_counter() - t0)
            phases.append(pg.evaluate(PHASES))
            fresh.close()
            ctx.close()
        browser.close()
    out = {
        "bench": "console_home_first_load",
        "url": a.url,
        "runs": a.runs,
        "home_first_load_s_median": round(statistics.median(page_s), 3),
        "home_first_load_s_all": [round(x, 3) for x in page_s],
        "baseline_dashboard_api_s_median": round(statistics.median(api), 3),
        "ratio_page_to_api": round(statistics.median(page_s) / statistics.median(api), 2),
        "goal_s": 2.0,
        "phases_ms_median": {
            k: round(statistics.median(float(ph[k] or 0) for ph in phases), 1) for k in phases[0]
        },
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
