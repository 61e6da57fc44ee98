"""What an operator does in the browser, on the system Chromium against a real server.

Sign in, read the home page (first load timed), build a segment and see its count, draw
a 4-node journey on the canvas with the per-kind node forms, save it and dry-run it, have a
second user approve it, launch it and watch live node stats, run a funnel, edit a template
with its live preview; screenshots of every page go to the test's output directory and to
/tmp/console-shots/.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from .conftest import PASSWORD, SHOTS, SMS_SECRET, Bank, chromium_path, signed_in

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
        expect.set_options(timeout=TIMEOUT_MS)  # a loaded machine answers slowly
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


def test_save_a_segment_open_it_and_save_a_new_version(bank: Bank, page: Page) -> None:
    p = page
    p.goto(bank.url + "/segments")
    count = p.locator("[data-testid=segment-count] .ant-statistic-content-value")
    p.fill("[data-testid=segment-name]", "E2E 高风险客群")
    p.fill("[data-testid=segment-id]", "e2e-high-risk")
    value = p.locator("input[data-testid=cond-value], [data-testid=cond-value] input").first
    value.fill("5")
    p.click("[data-testid=segment-save-new]")
    saved = p.locator("[data-testid=segment-saved]")
    expect(saved).to_contain_text("v1", timeout=TIMEOUT_MS)
    segment_id = "e2e-high-risk"
    assert f"{segment_id} v1" in saved.inner_text()
    value.fill("4")
    p.click("[data-testid=segment-save-version]")
    expect(saved).to_contain_text(f"{segment_id} v2", timeout=TIMEOUT_MS)
    with signed_in(bank, "ops") as api:
        v1 = api.get(f"/api/v1/segments/{segment_id}", params={"version": 1}).json()
        v2 = api.get(f"/api/v1/segments/{segment_id}").json()
        want = api.post("/api/v1/segments/preview", json={"definition": v2["definition"]})
    assert v1["definition"]["root"]["children"][0]["value"] == 5
    assert v2["version"] == 2 and v2["definition"]["root"]["children"][0]["value"] == 4
    assert v2["name"] == "E2E 高风险客群"
    p.goto(bank.url + "/segments")  # a fresh builder, then open what was saved
    p.click("[data-testid=segment-open]")
    p.click(".ant-select-item-option >> text=E2E 高风险客群 · v2")
    expect(p.locator("[data-testid=segment-name]")).to_have_value(
        "E2E 高风险客群", timeout=TIMEOUT_MS
    )
    expect(value).to_have_value("4", timeout=TIMEOUT_MS)
    expect(count).to_have_text(f"{want.json()['count']:,}", timeout=TIMEOUT_MS)


def _drop(p: Page, kind: str, x: int, y: int) -> None:
    canvas = p.locator("[data-testid=canvas]")
    p.locator(f"[data-testid=palette-{kind}]").drag_to(canvas, target_position={"x": x, "y": y})


def _connect(p: Page, source: str, handle: str, target: str) -> None:
    node = p.locator(f'.react-flow__node[data-id="{source}"]')
    src = node.locator(f'.react-flow__handle.source[data-handleid="{handle}"]')
    dst = p.locator(f'.react-flow__node[data-id="{target}"] .react-flow__handle.target')
    src.drag_to(dst)


def _pick(p: Page, select: str, option: str) -> None:
    """Choose ``option`` in the Ant Design select ``select`` (a data-testid)."""
    p.click(f"[data-testid={select}]")
    p.click(f".ant-select-dropdown:visible .ant-select-item-option >> text={option}")


def _node(p: Page, node_id: str) -> None:
    p.click(f'.react-flow__node[data-id="{node_id}"]')
    expect(p.locator("[data-testid=node-id]")).to_have_value(node_id)


JOURNEY = "e2e_risk_sms"


def test_draw_a_four_node_journey_with_the_forms_save_and_dry_run(
    bank: Bank, page: Page, shots: Path
) -> None:
    with signed_in(bank, "ops") as api:  # the template the send node picks
        t = {"template_id": "e2e-risk", "channel": "sms", "body": "{{ customer.city }}客户您好"}
        assert api.post("/api/v1/reach/templates", json=t).status_code == 201
    p = page
    p.goto(bank.url + "/journeys")
    p.click("[data-testid=journey-new]")
    p.fill("[data-testid=journey-id]", JOURNEY)
    p.fill("[data-testid=journey-name]", "E2E 高风险短信")
    _drop(p, "segment_entry", 300, 40)
    _drop(p, "condition", 300, 170)
    _drop(p, "send_message", 200, 320)
    _drop(p, "exit", 460, 320)
    for node in ("segment_entry", "condition", "send_message", "exit"):
        p.wait_for_selector(f'.react-flow__node[data-id="{node}"]')
    _connect(p, "segment_entry", "next", "condition")
    _connect(p, "condition", "yes", "send_message")
    _connect(p, "condition", "no", "exit")
    # Each node is set up in its own form, no JSON: the entry's segment, the condition's
    # value, the send's channel, template and policy-block behaviour, the exit's reason.
    _node(p, "segment_entry")
    p.fill("[data-testid=form-segment-name]", "E2E 全部活跃客户")
    _node(p, "condition")
    p.fill("[data-testid=form-cond-value]", "4")
    _node(p, "send_message")
    _pick(p, "form-channel", "sms")
    _pick(p, "form-template", "e2e-risk")
    _pick(p, "form-on-blocked", "跳过此步，继续")
    expect(p.locator("[data-testid=node-form] .ant-switch-checked")).to_have_count(1)  # 营销类
    _shot(p, shots, "25-journey-node-form")
    _node(p, "exit")
    p.fill("[data-testid=form-reason]", "x" * 70)  # too long: the API names the field
    p.click("[data-testid=validate]")
    p.wait_for_selector("[data-testid=error-exit]")
    field_error = p.locator("[data-testid=node-form] .ant-form-item-explain-error")
    expect(field_error.first).to_contain_text("64", timeout=TIMEOUT_MS)
    _shot(p, shots, "04-journey-error")
    p.fill("[data-testid=form-reason]", "low_risk")
    expect(field_error).to_have_count(0)  # an edit clears the API's mark
    p.click("[data-testid=validate]")
    expect(p.locator("[data-testid=journey-status]")).to_contain_text("校验通过")
    doc = json.loads(p.locator("[data-testid=journey-json]").text_content() or "")
    assert doc["edges"] == [
        {"from": "segment_entry", "to": "condition"},
        {"from": "condition", "to": "send_message", "branch": "yes"},
        {"from": "condition", "to": "exit", "branch": "no"},
    ]
    nodes = {n["id"]: n for n in doc["nodes"]}
    assert nodes["condition"]["config"]["condition"]["value"] == 4  # typed as the int field
    assert nodes["send_message"]["config"]["template_id"] == "e2e-risk"
    assert nodes["send_message"]["on_blocked"] == {"action": "skip"}
    assert nodes["send_message"]["config"]["marketing"] is True  # as the switch shows
    assert nodes["segment_entry"]["config"]["segment"]["name"] == "E2E 全部活跃客户"
    p.click("[data-testid=save]")
    expect(p.locator("[data-testid=journey-status]")).to_contain_text(f"{JOURNEY} v1")
    expect(p.locator("[data-testid=journey-state]")).to_contain_text("草稿")
    with signed_in(bank, "ops") as api:
        stored = api.get(f"/api/v1/journeys/{JOURNEY}").json()
        forecast = api.post("/api/v1/journeys/dry-run", json={"journey": doc}).json()
    assert stored["version"] == 1 and stored["status"] == "draft"
    assert stored["definition"]["nodes"][2]["on_blocked"]["action"] == "skip"
    p.click("[data-testid=dry-run]")
    p.wait_for_selector("[data-testid=counts-segment_entry]")
    summary = p.inner_text("[data-testid=dry-run-summary] [data-metric=entered]")
    assert summary.strip() == f"进入: {forecast['entered']}"  # in the operator's words
    for node_id, metrics in forecast["nodes"].items():  # the counts drawn on every node
        for metric, n in metrics.items():
            shown = p.inner_text(f"[data-testid=counts-{node_id}] [data-metric='{metric}']")
            assert shown.strip().endswith(f": {n}"), (node_id, metric, shown)
            assert not shown.startswith(metric.split(":")[0]), shown  # not the raw key
    if "suppressed:no_consent" in forecast["nodes"]["send_message"]:
        assert "被拦截·未授权" in p.inner_text("[data-testid=counts-send_message]")
    assert forecast["nodes"]["condition"], "the forecast has no counts: nothing was checked"
    _shot(p, shots, "05-journey-dry-run")


def test_journey_list_open_approve_by_a_second_user_launch_and_live_stats(
    bank: Bank, page: Page, shots: Path
) -> None:
    p = page
    p.goto(bank.url + "/journeys")
    row = p.locator(f"[data-testid=journey-row-{JOURNEY}]")
    expect(row).to_have_text("E2E 高风险短信", timeout=TIMEOUT_MS)
    _shot(p, shots, "26-journey-list")
    row.click()  # opens on the canvas, laid out from the stored document
    for node in ("segment_entry", "condition", "send_message", "exit"):
        p.wait_for_selector(f'.react-flow__node[data-id="{node}"]')
    _node(p, "condition")
    expect(p.locator("[data-testid=form-cond-value]")).to_have_value("4")
    p.click("[data-testid=submit]")
    expect(p.locator("[data-testid=journey-state]")).to_contain_text("已提交")
    p.click("[data-testid=approve]")  # the maker may not approve their own journey
    expect(p.locator("[data-testid=journey-status]")).to_contain_text("maker-checker")
    with signed_in(bank, "ops") as admin:
        user = {"username": "checker1", "password": PASSWORD, "org_id": "HO"}
        resp = admin.post("/api/v1/users", json=user | {"roles": ["approver"]})
        assert resp.status_code in (201, 409), resp.text
    browser = p.context.browser
    assert browser is not None
    other = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    try:  # the checker, in their own browser session, opens the link and approves
        c = other.new_page()
        c.goto(f"{bank.url}/journeys/{JOURNEY}")
        c.fill("#username", "checker1")
        c.fill("#password", PASSWORD)
        c.click("[data-testid=login-submit]")
        c.wait_for_selector('.react-flow__node[data-id="send_message"]')
        expect(c.locator("[data-testid=journey-state]")).to_contain_text("已提交")
        expect(c.locator("[data-testid=save]")).to_be_disabled()  # a checker edits nothing
        c.click("[data-testid=approve]")
        expect(c.locator("[data-testid=journey-state]")).to_contain_text("已批准")
        _shot(c, shots, "28-journey-approved-by-checker")
    finally:
        other.close()
    with signed_in(bank, "ops") as api:
        assert api.get(f"/api/v1/journeys/{JOURNEY}").json()["approved_by"] == "checker1"
    p.reload()
    expect(p.locator("[data-testid=journey-state]")).to_contain_text("已批准")
    p.click("[data-testid=launch]")
    expect(p.locator("[data-testid=journey-state]")).to_contain_text("运行中")
    p.wait_for_selector("[data-testid=live-stats]")
    with signed_in(bank, "ops") as api:
        stats = api.get(f"/api/v1/journeys/{JOURNEY}/stats").json()["1"]["nodes"]
    entered = stats["segment_entry"]["entered"]
    assert entered > 0
    expect(p.locator("[data-testid=counts-segment_entry] [data-metric=entered]")).to_have_text(
        f"进入: {entered}", timeout=TIMEOUT_MS
    )  # live: polled, no button
    _shot(p, shots, "27-journey-running-stats")
    # An edit of the running journey is saved as a new version; v1 keeps running.
    _node(p, "exit")
    p.fill("[data-testid=form-reason]", "low_risk_v2")
    expect(p.locator("[data-testid=save]")).to_have_text("另存为新版本")
    p.click("[data-testid=save]")
    expect(p.locator("[data-testid=journey-status]")).to_contain_text(f"{JOURNEY} v2")
    with signed_in(bank, "ops") as api:
        versions = api.get(f"/api/v1/journeys/{JOURNEY}/versions").json()
    assert [(v["version"], v["status"]) for v in versions] == [(2, "draft"), (1, "running")]


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
    contacted = _sql(bank, "select customer_id from contacts order by ts desc, customer_id")
    cid = contacted[0]["customer_id"]  # a customer the bank's past campaign reached
    p.goto(f"{bank.url}/customers/{cid}")
    p.wait_for_selector("[data-testid=profile]")
    past = p.locator("[data-testid=profile-past-contacts] tbody tr.ant-table-row")
    expect(past.first).to_contain_text("EXP-FUND-REACH")
    assert past.count() == sum(1 for r in contacted if r["customer_id"] == cid)
    p.wait_for_selector("[data-testid=chart-profile-aum] canvas")
    # every section fits the window: no page wider than the screen (long JSON, tables)
    assert p.evaluate("document.documentElement.scrollWidth") <= 1440
    headers = p.inner_text("[data-testid=holdings] thead")
    assert "产品名称" in headers and "product_name" not in headers
    _shot(p, shots, "08-customer-360")
    for path, name in [
        ("/activities", "09-activities"),
        ("/reach", "10-reach"),
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


TAGS = [
    {
        "type": "statistic",
        "name": "aum_tier",
        "title": "AUM分层",
        "category": "资产/AUM",
        "value_type": "enum",
        "measure": {"of": "aum", "column": "aum", "months": 1},
        "bands": [
            {"label": "<50k", "high": 50000},
            {"label": "50k-500k", "low": 50000, "high": 500000},
            {"label": "500k-6M", "low": 500000, "high": 6000000},
            {"label": ">6M", "low": 6000000},
        ],
    },
    {
        "type": "statistic",
        "name": "txn_sum_90d",
        "title": "近90天交易额",
        "category": "资产/交易",
        "value_type": "number",
        "measure": {"of": "transactions", "agg": "sum", "last_days": 90},
    },
    {
        "type": "rule",
        "name": "fund_browser_7d",
        "title": "近7天浏览基金",
        "category": "行为/理财",
        "value_type": "bool",
        "condition": {
            "kind": "behaviour",
            "step": {"event": "fund_detail_view"},
            "count": 1,
            "last_days": 7,
        },
    },
]


def _sql(bank: Bank, sql: str) -> list[dict[str, Any]]:
    with signed_in(bank, "ops") as api:
        resp = api.post("/api/v1/warehouse/query", json={"sql": sql, "limit": 100_000})
        assert resp.status_code == 200, resp.text
        rows: list[dict[str, Any]] = resp.json()["rows"]
        return rows


def test_tag_catalogue_tree_coverage_and_distribution(bank: Bank, page: Page, shots: Path) -> None:
    with signed_in(bank, "ops") as api:  # the catalogue an admin set up, run once
        for tag in TAGS:
            resp = api.post("/api/v1/tags", json={"definition": tag})
            assert resp.status_code in (201, 409), resp.text
        runs = {r["tag"]: r for r in api.post("/api/v1/tags/run", json={}).json()}
    month_end = runs["aum_tier"]["as_of"]
    assert month_end.endswith(("-28", "-29", "-30", "-31"))
    aums = _sql(bank, f"select aum from aum_monthly where month = '{month_end}'")
    oracle: dict[str, int] = {}
    for r in aums:
        a = r["aum"]
        label = "<50k" if a < 5e4 else "50k-500k" if a < 5e5 else "500k-6M" if a < 6e6 else ">6M"
        oracle[label] = oracle.get(label, 0) + 1
    assert runs["aum_tier"]["with_value"] == len(aums)
    assert {k: v for k, v in runs["aum_tier"]["distribution"]["labels"].items() if v} == oracle
    p = page
    p.goto(bank.url + "/tags")
    p.wait_for_selector("[data-testid=tag-aum_tier]")
    tree = p.inner_text("[data-testid=tag-tree]")
    assert "资产 (2)" in tree and "行为 (1)" in tree and "AUM (1)" in tree
    p.click("[data-testid=tag-tree] >> text=资产 (2)")  # the subtree filters the table
    expect(p.locator("[data-testid=tag-table] tbody tr")).to_have_count(2, timeout=TIMEOUT_MS)
    assert "近7天浏览基金" not in p.inner_text("[data-testid=tag-table]")
    p.click("[data-testid=tag-aum_tier]")
    p.wait_for_selector("[data-testid=chart-tag-distribution] canvas")
    total = runs["aum_tier"]["customers"]
    shown = p.inner_text("[data-testid=tag-with-value]")
    assert f"{len(aums):,} / {total:,}" in shown
    _shot(p, shots, "14-tag-catalogue")
    p.click("[data-testid=tag-txn_sum_90d]")
    stats = p.inner_text("[data-testid=tag-stats]")
    assert f"{runs['txn_sum_90d']['distribution']['max']:,.2f}".rstrip("0").rstrip(".") in stats


def test_lifecycle_sankey_and_scored_lists(bank: Bank, page: Page, shots: Path) -> None:
    with signed_in(bank, "ops") as api:
        flow = api.get("/api/v1/console/lifecycle-flow", params={"by": "tier"}).json()
        churn = api.get("/api/v1/console/scored-customers", params={"model": "churn"}).json()
    p = page
    p.goto(bank.url + "/lifecycle")
    p.wait_for_selector("[data-testid=chart-flow] canvas")
    p.click("[data-testid=flow-by] >> text=资产分层")
    total = sum(link["customers"] for link in flow["links"])
    expect(p.locator("[data-testid=flow-summary]")).to_contain_text(
        f"{total:,}", timeout=TIMEOUT_MS
    )
    biggest = max(flow["links"], key=lambda link: link["customers"])
    row = p.locator("[data-testid=flow-table] tbody tr.ant-table-row").first
    expect(row).to_contain_text(f"{biggest['source']} → {biggest['target']}", timeout=TIMEOUT_MS)
    assert f"{biggest['customers']:,}" in row.inner_text()
    summary = p.inner_text("[data-testid=flow-summary]")
    assert f"{flow['from_month']} → {flow['to_month']}" in summary
    table = p.locator("[data-testid=list-churn] tbody tr.ant-table-row")
    expect(table.first).to_contain_text(str(churn[0]["customer_id"]), timeout=TIMEOUT_MS)
    first = table.first.inner_text()
    assert churn[0]["phone"] in first and "*" in churn[0]["phone"]  # masked
    _shot(p, shots, "15-lifecycle-flow")
    p.click("text=高潜客户")
    p.wait_for_selector("[data-testid=list-propensity] tbody tr")
    _shot(p, shots, "16-high-potential")


def _run_analysis(p: Page, bank: Bank, path: str, chart: str) -> None:
    p.goto(bank.url + path)
    p.click("[data-testid=analysis-run]")
    p.wait_for_selector(f"[data-testid={chart}] canvas")


def test_event_retention_path_attribution_pages(bank: Bank, page: Page, shots: Path) -> None:
    p = page
    _run_analysis(p, bank, "/monitor/events", "chart-event")
    jan = _sql(
        bank,
        "select count(*) as n from events where event = 'app_open' "
        "and ts >= '2025-01-01' and ts < '2025-02-01'",
    )[0]["n"]
    first = p.locator("[data-testid=event-table] tbody tr").first.inner_text()
    assert "2025-01-01" in first and f"{jan:,}" in first
    _shot(p, shots, "17-events")
    _run_analysis(p, bank, "/monitor/retention", "chart-retention")
    logins = _sql(
        bank,
        "select customer_id, min(ts) as t0 from events where event = 'login' "
        "and customer_id is not null and ts >= '2025-01-01' and ts < '2025-04-01' group by 1",
    )
    sizes = [
        int(x)
        for x in p.locator(
            "[data-testid=retention-table] tbody tr td:nth-child(2)"
        ).all_inner_texts()
    ]
    assert sum(sizes) == len(logins)  # every customer in exactly one cohort
    _shot(p, shots, "18-retention")
    _run_analysis(p, bank, "/monitor/path", "chart-path")
    with signed_in(bank, "ops") as api:
        doc = {
            "kind": "path",
            "anchor": {"event": "app_open"},
            "direction": "after",
            "depth": 3,
            "top": 10,
            "start": "2025-01-01",
            "end": "2025-03-31",
        }
        want = api.post("/api/v1/analyses/run", json={"analysis": doc}).json()["paths"][0]
    top = p.locator("[data-testid=path-table] tbody tr").first.inner_text()
    assert " → ".join(want["path"]) in top and str(want["customers"]) in top
    _shot(p, shots, "19-path")
    _run_analysis(p, bank, "/monitor/attribution", "chart-attribution")
    conversions = _sql(
        bank,
        "select count(*) as n from events where event = 'fund_purchase' "
        "and customer_id is not null and ts >= '2025-01-01' and ts < '2025-04-01'",
    )[0]["n"]
    expect(p.locator("[data-testid=attribution-total]")).to_contain_text(
        f"{conversions:,}", timeout=TIMEOUT_MS
    )
    _shot(p, shots, "20-attribution")


def test_experiment_results_with_cis_and_chance_to_beat_control(
    bank: Bank, page: Page, shots: Path
) -> None:
    """The page opens on the bank's own campaign (no typing) and shows, per arm, the
    difference with its 95% CI and the probability to beat control, as the API gives."""
    body = {
        "table": "fund_reach_exposure",
        "control": "control",
        "arm_column": "arm",
        "metrics": [{"column": "converted", "kind": "proportion"}],
    }
    with signed_in(bank, "ops") as api:
        want = api.post("/api/v1/experiments/results", json=body).json()
    arms = {a["arm"]: a for a in want["metrics"][0]["arms"]}
    p = page
    p.goto(bank.url + "/monitor/experiments")
    table = p.locator("[data-testid=experiment-table-converted]")
    expect(table.locator("tbody tr")).to_have_count(len(arms), timeout=TIMEOUT_MS)
    headers = table.locator("thead").inner_text()
    assert "胜出概率" in headers and "置信区间" in headers
    for arm, a in arms.items():
        row = table.locator("tbody tr", has_text=arm).first.inner_text()
        assert f"{a['n']:,}" in row
        if a["vs_control"] is None:
            assert "对照组" in row
            continue
        d = a["vs_control"]["difference"]
        assert f"[{d['ci_low']:.4f}, {d['ci_high']:.4f}]" in row
        assert f"{a['bayesian']['chance_to_win'] * 100:.2f}%" in row
    p.wait_for_selector(".ant-card canvas")  # the CI chart
    _shot(p, shots, "11-experiments")


def test_roi_report(bank: Bank, page: Page, shots: Path) -> None:
    p = page
    p.goto(bank.url + "/monitor/roi")
    p.click("[data-testid=roi-run]")
    p.wait_for_selector("[data-testid=roi-table-result] tbody tr")
    rows = _sql(bank, "select arm, converted from fund_reach_exposure")
    t = [r["converted"] for r in rows if r["arm"] == "sms"]
    h = [r["converted"] for r in rows if r["arm"] == "control"]
    incremental = len(t) * (sum(t) / len(t) - sum(h) / len(h))  # n_t x (p_t - p_h)
    first = p.locator("[data-testid=roi-table-result] tbody tr").first.inner_text()
    assert "增量转化" in first
    assert f"{incremental:,.2f}".rstrip("0").rstrip(".") in first
    _shot(p, shots, "21-roi")
    p.fill("[data-testid=roi-table]", "no_such_table")
    p.click("[data-testid=roi-run]")
    expect(p.locator("[data-testid=error]")).to_contain_text("no_such_table", timeout=TIMEOUT_MS)


def test_create_an_activity_from_a_template_with_the_step_form(
    bank: Bank, page: Page, shots: Path
) -> None:
    benefit = {
        "id": "e2e-c10",
        "name": "满100减10",
        "value": {"kind": "coupon_fixed", "amount_cents": 1000, "threshold_cents": 10000},
        "limits": {"total_stock": 100},
        "validity": {"days": 7},
    }
    with signed_in(bank, "ops") as api:
        resp = api.post("/api/v1/benefits", json=benefit)
        assert resp.status_code in (201, 409), resp.text
    p = page
    p.goto(bank.url + "/activities")
    p.click("[data-testid=activity-new]")
    p.click("[data-testid=template-coupon_drop]")
    p.click("[data-testid=step-next]")
    p.click("[data-testid=step-next]")  # no benefit chosen: the step refuses to move on
    p.wait_for_selector(".ant-form-item-explain-error")
    p.click("[data-testid=benefit-pick]")
    p.click(".ant-select-item-option >> text=满100减10 (e2e-c10)")
    p.click("[data-testid=step-next]")
    p.fill("[data-testid=activity-name]", "E2E 春季领券")
    p.fill("input[data-testid=activity-budget], [data-testid=activity-budget] input", "500")
    p.click("[data-testid=step-next]")
    p.fill("[data-testid=landing-title]", "满100减10 限时领")
    p.click("[data-testid=step-next]")
    summary = p.inner_text("[data-testid=activity-summary]")  # in words, then the document
    assert "满100减10 (e2e-c10)" in summary and "¥500" in summary and "领券" in summary
    review = json.loads(p.text_content("[data-testid=activity-review]") or "")
    assert review["template"] == {"kind": "coupon_drop", "benefit_id": "e2e-c10"}
    assert review["budget_cents"] == 50_000
    _shot(p, shots, "22-activity-step-form")
    p.click("[data-testid=save-submit]")
    saved = p.locator("[data-testid=activity-saved]")
    expect(saved).to_contain_text("·", timeout=TIMEOUT_MS)
    activity_id = saved.inner_text().split(":")[1].split("·")[0].strip()
    with signed_in(bank, "ops") as api:
        got = api.get(f"/api/v1/activities/{activity_id}").json()
    assert got["name"] == "E2E 春季领券"
    assert got["status"] in saved.inner_text()
    assert got["status"] != "draft"  # submitted for approval
    assert got["definition"]["template"]["benefit_id"] == "e2e-c10"
    assert got["definition"]["budget_cents"] == 50_000


def test_activity_list_usage_bars_approval_and_risk_queue(
    bank: Bank, page: Page, shots: Path
) -> None:
    """The activity just created: its stock and budget bars against the ledger, the
    maker-checker approval and start from the list, then a blocked participation in the
    risk queue, released by the reviewer."""
    with signed_in(bank, "ops") as api:
        listed = api.get("/api/v1/activities").json()
        activity = next(a for a in listed if a["name"] == "E2E 春季领券")
        user = {"username": "checker1", "password": PASSWORD, "org_id": "HO"}
        resp = api.post("/api/v1/users", json=user | {"roles": ["approver"]})
        assert resp.status_code in (201, 409), resp.text
    aid = activity["id"]
    p = page
    p.goto(bank.url + "/activities")
    expect(p.locator(f"[data-testid=activity-status-{aid}]")).to_have_text("已提交")
    expect(p.locator(f"[data-testid=stock-{aid}]")).to_contain_text("满100减10 0 / 100")
    expect(p.locator(f"[data-testid=budget-{aid}]")).to_contain_text("¥0 / ¥500")
    p.click(f"[data-testid=activity-approve-{aid}]")  # the submitter may not approve it
    expect(p.locator("[data-testid=error]")).to_contain_text("submitter", timeout=TIMEOUT_MS)
    with signed_in(bank, "checker1") as checker:
        assert checker.post(f"/api/v1/activities/{aid}/approve").status_code == 200
    p.reload()
    p.click(f"[data-testid=activity-start-{aid}]")
    expect(p.locator(f"[data-testid=activity-status-{aid}]")).to_have_text("运行中")
    with signed_in(bank, "ops") as api:
        ok = api.post(f"/api/v1/activities/{aid}/participate", json={"customer_id": 7})
        assert ok.status_code == 200, ok.text
        black = {"dimension": "device", "value": "e2e-bad-device", "list": "black"}
        assert api.put("/api/v1/risk/lists", json=black).status_code == 204
        bad = {"customer_id": 8, "device_id": "e2e-bad-device"}
        blocked = api.post(f"/api/v1/activities/{aid}/participate", json=bad)
        assert blocked.status_code in (200, 403, 409, 429), blocked.text
        benefit = next(
            b for b in api.get("/api/v1/benefits").json() if b["definition"]["id"] == "e2e-c10"
        )
        spent = api.get(f"/api/v1/activities/{aid}/stats").json()["issued_cost_cents"]
        decisions = api.get("/api/v1/risk/decisions", params={"status": "open"}).json()
    used = benefit["balance"]["stock_used"]
    assert used >= 1  # customer 7's coupon
    p.reload()
    expect(p.locator(f"[data-testid=stock-{aid}]")).to_contain_text(f"{used} / 100")
    expect(p.locator(f"[data-testid=budget-{aid}]")).to_contain_text(f"¥{spent / 100:,.0f} / ¥500")
    _shot(p, shots, "29-activity-list")
    mine = [d for d in decisions if d["customer_id"] == 8 and d["activity_id"] == aid]
    assert mine, decisions  # the black-listed device was stopped and recorded
    p.click("text=风险审核")
    row = p.locator(f"[data-testid=risk-release-{mine[0]['id']}]")
    expect(row).to_be_visible()
    table = p.inner_text("[data-testid=risk-table]")
    assert "blacklist.device" in table and "拦截" in table
    _shot(p, shots, "30-risk-queue")
    row.click()
    expect(row).to_have_count(0)
    with signed_in(bank, "ops") as api:
        after = api.get("/api/v1/risk/decisions", params={"status": "released"}).json()
    assert any(d["id"] == mine[0]["id"] and d["reviewed_by"] == "ops" for d in after)


def test_reach_channels_and_live_template_preview(bank: Bank, page: Page, shots: Path) -> None:
    with signed_in(bank, "ops") as api:
        got = api.get("/api/v1/console/channels").json()
        template = {
            "template_id": "e2e-hello",
            "channel": "sms",
            "body": "{{ customer.city }}的客户您好",
        }
        resp = api.post("/api/v1/reach/templates", json=template)
        assert resp.status_code == 201, resp.text
    assert got["configured"] and [c["name"] for c in got["channels"]] == ["email", "inbox", "sms"]
    p = page
    p.goto(bank.url + "/reach")
    rows = p.locator("[data-testid=channels-table] tbody tr.ant-table-row")
    expect(rows).to_have_count(3, timeout=TIMEOUT_MS)
    sms = rows.filter(has_text="webhook").inner_text()
    assert "50/s · burst 10" in sms and "127.0.0.1:9" in sms and "0.040" in sms
    assert "2525" in rows.filter(has_text="smtp").inner_text()
    html = p.content()
    assert SMS_SECRET not in html and "/sms/send" not in html  # never the secret or the path
    _shot(p, shots, "23-reach-channels")
    city = _sql(bank, "select city from customers where customer_id = 7")[0]["city"]
    p.click("text=消息模板")
    p.click("[data-testid=template-e2e-hello]")  # open it in the editor
    expect(p.locator("[data-testid=template-body]")).to_have_value("{{ customer.city }}的客户您好")
    p.fill(
        "input[data-testid=preview-customer], [data-testid=preview-customer] input", "7"
    )  # no button: the preview follows
    result = p.locator("[data-testid=preview-result]")
    expect(result).to_contain_text(f"{city}的客户您好", timeout=TIMEOUT_MS)
    p.fill("[data-testid=template-body]", "{{ customer.city }}的客户，新年快乐")
    expect(result).to_contain_text(f"{city}的客户，新年快乐", timeout=TIMEOUT_MS)  # unsaved
    _shot(p, shots, "24-template-preview")
    p.fill("[data-testid=template-body]", "{{ customer.nmae }}")
    expect(p.locator("[data-testid=error]")).to_contain_text("nmae", timeout=TIMEOUT_MS)
    p.fill("[data-testid=template-body]", "{{ customer.city }}的客户，新年快乐")
    p.click("[data-testid=template-save]")
    expect(p.locator("[data-testid=template-saved]")).to_contain_text("e2e-hello v2")
    with signed_in(bank, "ops") as api:
        got = api.get("/api/v1/reach/templates/e2e-hello").json()
    assert got["body"] == "{{ customer.city }}的客户，新年快乐"
    # Contact history: what the launched journey did, by campaign (the journey id)
    with signed_in(bank, "ops") as api:
        history = api.get("/api/v1/contacts", params={"campaign": JOURNEY, "limit": 200}).json()
    assert history, "the running journey left no contact history: nothing to check"
    p.click("text=接触历史")
    p.click("[data-testid=contacts-run]")  # neither field filled: told, not sent
    expect(p.locator("[data-testid=error]")).to_contain_text("二选一", timeout=TIMEOUT_MS)
    p.fill("[data-testid=contacts-campaign]", JOURNEY)
    p.click("[data-testid=contacts-run]")
    first = p.locator("[data-testid=contacts-table] tbody tr.ant-table-row").first
    expect(first).to_contain_text(str(history[0]["customer_id"]), timeout=TIMEOUT_MS)
    kinds = {"suppressed": "被策略拦截", "enqueued": "已排队", "attempt": "尝试发送",
             "sent": "已发送", "failed": "发送失败", "dead": "放弃发送"}  # fmt: skip
    assert kinds.get(history[0]["kind"], history[0]["kind"]) in first.inner_text()
    headers = p.inner_text("[data-testid=contacts-table] thead")
    assert "渠道" in headers and "channel" not in headers  # Chinese column names
    _shot(p, shots, "31-contact-history")


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
