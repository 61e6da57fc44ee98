"""Monitoring API: analyses run in the caller's scope; experiments are bank-wide only."""
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from fastapi.testclient import TestClient

from access.fixtures import HOMES, add_user, app, client, settings, store_url  # noqa: F401

FUNNEL = {
    "kind": "funnel",
    "steps": [{"event": "open"}, {"event": "buy"}],
    "start": "2024-01-01",
    "end": "2024-01-01",
}


def _seed(client: TestClient) -> None:
    t0 = dt.datetime(2024, 1, 1, 9)
    rows = []
    for cid in HOMES:  # every customer opens; even ids buy an hour later
        rows.append((f"o{cid}", t0, "open", cid))
        if cid % 2 == 0:
            rows.append((f"b{cid}", t0 + dt.timedelta(hours=1), "buy", cid))
    rows.append(("anon", t0, "open", None))
    events = pa.table(
        {
            "message_id": [r[0] for r in rows],
            "ts": pa.array([r[1] for r in rows], pa.timestamp("us")),
            "event": [r[2] for r in rows],
            "customer_id": pa.array([r[3] for r in rows], pa.int64()),
            "anonymous_id": ["d"] * len(rows),
            "platform": ["ios"] * len(rows),
            "properties": ["{}"] * len(rows),
        }
    )
    arms = pa.table({"arm": ["c", "t"] * 50, "y": [float(i % 3) for i in range(100)]})
    client.app.state.warehouse.replace_tables({"events": events, "exposures": arms})  # type: ignore[attr-defined]


def test_analysis_is_scoped(client: TestClient) -> None:
    _seed(client)
    store = client.app.state.store  # type: ignore[attr-defined]
    hq = add_user(store, "hq", roles=["analyst"])
    branch = add_user(store, "b1", roles=["analyst"], org_id="B01")
    url = "/api/v1/analyses/run"
    whole = client.post(url, json={"analysis": FUNNEL}, headers=hq).json()
    mine = client.post(url, json={"analysis": FUNNEL}, headers=branch).json()
    in_b01 = [c for c, (org, _) in HOMES.items() if org.startswith("B01")]
    assert [s["customers"] for s in whole["groups"][0]["steps"]] == [
        len(HOMES),
        sum(c % 2 == 0 for c in HOMES),
    ]
    assert [s["customers"] for s in mine["groups"][0]["steps"]] == [
        len(in_b01),
        sum(c % 2 == 0 for c in in_b01),
    ]
    count = {"kind": "event", "event": {"event": "open"}, "interval": None,
             "start": "2024-01-01", "end": "2024-01-01"}  # fmt: skip
    # the anonymous event is visible bank-wide only
    assert client.post(url, json={"analysis": count}, headers=hq).json()["rows"] == [
        {"value": len(HOMES) + 1}
    ]
    assert client.post(url, json={"analysis": count}, headers=branch).json()["rows"] == [
        {"value": len(in_b01)}
    ]
    bad = client.post(url, json={"analysis": {**FUNNEL, "window_days": 0}}, headers=hq)
    assert bad.status_code == 400 and "window_days" in bad.text
    assert client.post(url, json={"analysis": FUNNEL}).status_code == 401
    auditor = add_user(store, "aud", roles=["auditor"], org_id="B01")
    assert client.post(url, json={"analysis": FUNNEL}, headers=auditor).status_code == 200
    reach = add_user(store, "rm", roles=["rm"], org_id="B01S01", rm_id="RM1")
    assert client.post(url, json={"analysis": FUNNEL}, headers=reach).status_code == 403


def test_experiment_results_bank_wide_only(client: TestClient) -> None:
    _seed(client)
    store = client.app.state.store  # type: ignore[attr-defined]
    hq = add_user(store, "hq", roles=["analyst"])
    branch = add_user(store, "b1", roles=["analyst"], org_id="B01")
    body = {"table": "exposures", "control": "c", "metrics": [{"column": "y"}]}
    ok = client.post("/api/v1/experiments/results", json=body, headers=hq)
    assert ok.status_code == 200, ok.text
    assert ok.json()["exposures"] == [["c", 50], ["t", 50]]
    assert client.post("/api/v1/experiments/results", json=body, headers=branch).status_code == 403
