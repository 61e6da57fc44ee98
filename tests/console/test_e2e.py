"""What an operator does in the browser, on the system Chromium against a real server.

Sign in, read the home page (first load timed), build a segment and see its count, draw
a 4-node journey on the canvas and dry-run it, run a funnel; screenshots of every page
go to the test's output directory and to /tmp/console-shots/.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from .conftest import PASSWORD, SHOTS, Bank, chromium_path, signed_in

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("console-shots")
    yield out
    SHOTS.mkdir(parents=True, exist_ok=True)
    for png in out.glob("*.png"):
        shutil.copy(png, SHOTS / png.name)


@pytest.fixture(scope="module")
def page(bank: Bank) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        yield pg
        browser.close()
        assert not errors, f"JavaScript errors in the console: {errors}"


def _shot(page: Page, shots: Path, name: str) -> None:
    page.wait_for_timeout(800)  # let charts finish animating (300 ms, on a busy machine)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_sign_in_and_home_dashboard(bank: Bank, page: Page, shots: Path) -> None:
    p = page
    p.goto(bank.url + "/")
    p.fill("#username", "ops")
    p.fill("#password", "wrong-password")
    p.click("[data-testid=login-submit]")
    p.wait_for_selector("[data-testid=login-error]")
    _shot(p, shots, "01-sign-in-error")
    p.fill("#password", PASSWORD)
    p.click("[data-testid=login-submit]")
    p.wait_for_selector("[data-testid=chart-aum] canvas")
    badge = p.inner_text("[data-testid=scope-badge]")
    assert "全行" in badge
    nav = p.inner_text("[data-testid=nav]")
    for center in ("首页", "客户洞察", "策略中心", "活动中心", "触达中心", "运营监控"):
        assert center in nav
    # First load of the home page, signed in: navigation start → KPIs and both charts drawn.
    start = time.perf_counter()
    p.goto(bank.url + "/")
    p.wait_for_selector("[data-testid=chart-aum] canvas")
    p.wait_for_selector("[data-testid=chart-customers] canvas")
    seconds = time.perf_counter() - start
    with signed_in(bank, "ops") as api:
        want = api.get("/api/v1/dashboard").json()
    shown = p.inner_text("[data-testid=kpi-customers]")
    assert shown.replace(",", "").strip().endswith(str(want["customers"]))
    (shots / "home-first-load.json").write_text(json.dumps({"seconds": seconds}))
    print(f"home first load: {seconds:.2f} s")
    _shot(p, shots, "02-home")
    assert seconds < 20, f"home page took {seconds:.1f} s"


def test_segment_builder_shows_the_count(bank: Bank, page: Page, shots: Path) -> None:
    p = page
    p.goto(bank.url + "/segments")
    count = p.locator("[data-testid=segment-count] .ant-statistic-content-value")
    doc = {
        "name": "x",
        "root": {
            "kind": "and",
            "children": [{"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 4}],
        },
    }
    with signed_in(bank, "ops") as api:
        want4 = api.post("/api/v1/segments/preview", json={"definition": doc}).json()["count"]
        rows = api.post(
            "/api/v1/warehouse/query",
            json={"sql": "select kyc_risk_level from customers", "limit": 100_000},
        ).json()["rows"]
    oracle3 = sum(1 for r in rows if (r["kyc_risk_level"] or 0) >= 3)
    oracle4 = sum(1 for r in rows if (r["kyc_risk_level"] or 0) >= 4)
    assert want4 == oracle4
    expect(count).to_have_text(f"{oracle3:,}", timeout=TIMEOUT_MS)
    value = p.locator("input[data-testid=cond-value], [data-testid=cond-value] input").first
    value.fill("4")
    expect(count).to_have_text(f"{oracle4:,}", timeout=TIMEOUT_MS)  # live, no button
    p.wait_for_selector("[data-testid=chart-branches] canvas")
    _shot(p, shots, "03-segment-builder")


def _drop(p: Page, kind: str, x: int, y: int) -> None:
    canvas = p.locator("[data-testid=canvas]")
    p.locator(f"[data-testid=palette-{kind}]").drag_to(canvas, target_position={"x": x, "y": y})


def _connect(p: Page, source: str, handle: str, target: str) -> None:
    node = p.locator(f'.react-flow__node[data-id="{source}"]')
    src = node.locator(f'.react-flow__handle.source[data-handleid="{handle}"]')
    dst = p.locator(f'.react-flow__node[data-id="{target}"] .react-flow__handle.target')
    src.drag_to(dst)


def test_draw_a_four_node_journey_and_dry_run(bank: Bank, page: Page, shots: Path) -> None:
    p = page
    p.goto(bank.url + "/journeys")
    _drop(p, "segment_entry", 300, 40)
    _drop(p, "condition", 300, 170)
    _drop(p, "send_message", 200, 320)
    _drop(p, "exit", 460, 320)
    for node in ("segment_entry", "condition", "send_message", "exit"):
        p.wait_for_selector(f'.react-flow__node[data-id="{node}"]')
    _connect(p, "segment_entry", "next", "condition")
    _connect(p, "condition", "yes", "send_message")
    _connect(p, "condition", "no", "exit")
    doc = json.loads(p.inner_text("[data-testid=journey-json]"))
    assert doc["edges"] == [
        {"from": "segment_entry", "to": "condition"},
        {"from": "condition", "to": "send_message", "branch": "yes"},
        {"from": "condition", "to": "exit", "branch": "no"},
    ]
    # A broken config is reported on its node, at the path the API names.
    p.click('.react-flow__node[data-id="send_message"]')
    p.fill("[data-testid=node-config]", '{"channel": "pigeon", "template_id": "t"}')
    p.click("[data-testid=validate]")
    p.wait_for_selector("[data-testid=error-send_message]")
    _shot(p, shots, "04-journey-error")
    p.fill("[data-testid=node-config]", '{"channel": "sms", "template_id": "t-welcome"}')
    p.click("[data-testid=validate]")
    expect(p.locator("[data-testid=journey-status]")).to_contain_text("校验通过")
    p.click("[data-testid=dry-run]")
    p.wait_for_selector("[data-testid=counts-segment_entry]")
    with signed_in(bank, "ops") as api:
        forecast = api.post("/api/v1/journeys/dry-run", json={"journey": doc}).json()
    summary = p.inner_text("[data-testid=dry-run-summary]")
    assert f"entered: {forecast['entered']}" in summary
    entry = p.inner_text("[data-testid=counts-segment_entry]")
    for metric, n in forecast["nodes"]["segment_entry"].items():
        assert f"{metric}: {n}" in entry
    _shot(p, shots, "05-journey-dry-run")


def test_funnel_page_runs_and_charts(bank: Bank, page: Page, shots: Path) -> None:
    p = page
    p.goto(bank.url + "/monitor/funnel")
    p.click("[data-testid=funnel-run]")
    p.wait_for_selector("[data-testid=chart-funnel] canvas")
    with signed_in(bank, "ops") as api:
        rows = api.post(
            "/api/v1/warehouse/query",
            json={
                "sql": "select distinct customer_id from events where event = 'app_open' "
                "and customer_id is not null and ts >= '2025-01-01' and ts < '2025-04-01'",
                "limit": 100_000,
            },
        ).json()["rows"]
    first = p.locator("[data-testid=funnel-table] tbody tr").first
    assert str(len(rows)) in first.inner_text()
    _shot(p, shots, "06-funnel")


def test_other_pages_render(bank: Bank, page: Page, shots: Path) -> None:
    p = page
    p.goto(bank.url + "/customers")
    p.wait_for_selector(".ant-table-row")
    assert "*" in p.inner_text(".ant-table-row >> nth=0")  # masked
    _shot(p, shots, "07-customers")
    p.click(".ant-table-row >> nth=0")
    p.wait_for_selector("[data-testid=profile]")
    _shot(p, shots, "08-customer-360")
    for path, name in [
        ("/activities", "09-activities"),
        ("/reach", "10-reach"),
        ("/monitor/experiments", "11-experiments"),
    ]:
        p.goto(bank.url + path)
        p.wait_for_selector(".ant-card")
        _shot(p, shots, name)
    p.goto(bank.url + "/")
    p.click("text=EN")
    p.wait_for_selector("text=Customer insight")
    p.wait_for_selector("[data-testid=chart-aum] canvas")
    _shot(p, shots, "12-home-english")
    p.click("text=中文")


def test_branch_user_sees_their_scope_and_signs_out(bank: Bank, page: Page, shots: Path) -> None:
    p = page
    p.hover("[data-testid=user-menu]")
    p.click("text=退出登录")
    p.wait_for_selector("#username")
    p.fill("#username", "b01ops")
    p.fill("#password", PASSWORD)
    p.click("[data-testid=login-submit]")
    badge = p.locator("[data-testid=scope-badge]")
    expect(badge).to_contain_text("B01")
    p.wait_for_selector("[data-testid=chart-aum] canvas")
    _shot(p, shots, "13-home-branch")
