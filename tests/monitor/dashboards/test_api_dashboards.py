"""Saved reports, scheduled refresh, metric alerts through the Reach outbox, journey
health — through the API with real users and scopes, and the services directly."""
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from access.fixtures import HOMES, add_user, app, client, settings, store_url  # noqa: F401
from opsloop.access.audit import AuditEntry
from opsloop.monitor.dashboards import alerts, reports
from opsloop.monitor.dashboards.health import journey_health
from opsloop.reach.models import ContactRow
from opsloop.reach.models import OutboxRow as ReachOutbox
from opsloop.strategy.models import CustomerState, StepRow

DAY = dt.date(2024, 3, 18)  # the checked day, a Monday
COUNT = {
    "kind": "event",
    "event": {"event": "login"},
    "interval": None,
    "start": "2024-03-18",
    "end": "2024-03-18",
}


def _seed(client: TestClient, spike: int) -> None:
    """Every customer logs in once per day for 9 weeks; on DAY customer 1 adds ``spike``."""
    rows = []
    for d in range(63):
        day = DAY - dt.timedelta(days=d)
        for cid in HOMES:
            rows.append((f"{cid}-{d}", dt.datetime.combine(day, dt.time(9)), cid))
    for i in range(spike):
        rows.append((f"x{i}", dt.datetime.combine(DAY, dt.time(10)), 1))
    events = pa.table(
        {
            "message_id": [r[0] for r in rows],
            "ts": pa.array([r[1] for r in rows], pa.timestamp("us")),
            "event": ["login"] * len(rows),
            "customer_id": pa.array([r[2] for r in rows], pa.int64()),
            "anonymous_id": ["d"] * len(rows),
            "platform": ["ios"] * len(rows),
            "properties": ["{}"] * len(rows),
        }
    )
    client.app.state.warehouse.replace_tables({"events": events})  # type: ignore[attr-defined]


def test_report_saved_in_scope_refreshed_and_audited(client: TestClient) -> None:
    _seed(client, spike=0)
    store = client.app.state.store  # type: ignore[attr-defined]
    hq = add_user(store, "hq", roles=["analyst"])
    b1 = add_user(store, "b1", roles=["analyst"], org_id="B01")
    b2 = add_user(store, "b2", roles=["analyst"], org_id="B02")
    aud = add_user(store, "aud", roles=["auditor"])
    r = client.post("/api/v1/reports", json={"name": "logins", "analysis": COUNT}, headers=b1)
    assert r.status_code == 201, r.text
    rid = r.json()["report_id"]
    assert r.json()["result"] is None and r.json()["org_path"] == "/HO/B01/"
    # computed in the owner's (B01) scope
    done = client.post(f"/api/v1/reports/{rid}/refresh", headers=b1).json()
    in_b01 = sum(1 for org, _ in HOMES.values() if org.startswith("B01"))
    assert done["result"]["rows"] == [{"value": in_b01}] and done["result_at"]
    # head office covers B01 and reads it; B02 does not even see that it exists
    assert client.get(f"/api/v1/reports/{rid}", headers=hq).json()["result"] == done["result"]
    assert client.get(f"/api/v1/reports/{rid}", headers=b2).status_code == 404
    assert [x["report_id"] for x in client.get("/api/v1/reports", headers=b2).json()] == []
    # an auditor reads but cannot write
    assert client.post(f"/api/v1/reports/{rid}/refresh", headers=aud).status_code == 403
    bad = client.post(
        "/api/v1/reports", headers=b1, json={"name": "x", "analysis": {**COUNT, "interval": "year"}}
    )
    assert bad.status_code == 400 and "interval" in bad.text
    cron = client.post(
        "/api/v1/reports",
        headers=b1,
        json={"name": "x", "analysis": COUNT, "refresh_cron": "61 * * * *"},
    )
    assert cron.status_code == 400 and "refresh_cron" in cron.text
    assert client.delete(f"/api/v1/reports/{rid}", headers=hq).status_code == 403
    assert client.delete(f"/api/v1/reports/{rid}", headers=b1).status_code == 204
    with store.session() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == rid)).all()
    assert actions == ["report.save", "report.delete"]


def test_refresh_due_follows_the_schedule(client: TestClient) -> None:
    _seed(client, spike=0)
    store = client.app.state.store  # type: ignore[attr-defined]
    wh = client.app.state.warehouse  # type: ignore[attr-defined]
    hq = reports.owner_principal(
        type(
            "R", (), {"owner": "hq", "org_path": "/HO/", "rm_id": None, "own_customers_only": False}
        )()
    )
    t0 = dt.datetime(2024, 3, 19, 0, 30, tzinfo=dt.UTC)  # 08:30 in Shanghai
    daily = reports.save_report(
        store=store,
        principal=hq,
        now=t0,
        spec=reports.ReportSpec("daily 9:00", {"analysis": COUNT}, refresh_cron="0 9 * * *"),
    )
    manual = reports.save_report(
        store=store, principal=hq, now=t0, spec=reports.ReportSpec("manual", {"analysis": COUNT})
    )
    assert reports.refresh_due(store=store, wh=wh, now=t0) == [daily["report_id"]]  # first run
    assert reports.refresh_due(store=store, wh=wh, now=t0 + dt.timedelta(minutes=20)) == []
    at_nine = t0 + dt.timedelta(minutes=30)  # 09:00 local: the schedule fires
    assert reports.refresh_due(store=store, wh=wh, now=at_nine) == [daily["report_id"]]
    assert reports.refresh_due(store=store, wh=wh, now=at_nine + dt.timedelta(hours=1)) == []
    got = reports.get_report(store=store, principal=hq, report_id=daily["report_id"])
    assert got["result_at"] == at_nine.isoformat() and got["result"]["rows"] == [{"value": 12}]
    assert (
        reports.get_report(store=store, principal=hq, report_id=manual["report_id"])["result"]
        is None
    )


@pytest.mark.parametrize(("spike", "fires"), [(0, False), (40, True)])
def test_anomaly_alert_queues_one_mail_per_recipient_once(
    client: TestClient, spike: int, fires: bool
) -> None:
    _seed(client, spike=spike)
    store = client.app.state.store  # type: ignore[attr-defined]
    ops = add_user(store, "ops", roles=["operator"])
    metric = {k: v for k, v in COUNT.items() if k != "interval"} | {"interval": "day"}
    body = {
        "name": "login spike",
        "metric": metric,
        "rule": {"kind": "anomaly", "weeks": 8},
        "recipients": ["ops@bank.example", "lead@bank.example"],
    }
    created = client.post("/api/v1/alerts", json=body, headers=ops)
    assert created.status_code == 201, created.text
    aid = created.json()["alert_id"]
    url = f"/api/v1/alerts/{aid}/check?day={DAY.isoformat()}"
    first = client.post(url, headers=ops).json()
    assert first["value"] == len(HOMES) + spike and first["baseline"] == len(HOMES)
    assert first["fired"] is fires
    again = client.post(url, headers=ops).json()
    assert again == first  # once per day
    with store.session() as s:
        queued = s.scalars(
            select(ReachOutbox).where(ReachOutbox.campaign == f"monitor-alert:{aid}")
        ).all()
        fired_audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "alert.fire")).all()
    assert sorted(m.payload["to"] for m in queued) == (
        ["lead@bank.example", "ops@bank.example"] if fires else []
    )
    assert all(m.channel == "email" and m.status == "pending" for m in queued)
    assert len(fired_audit) == (1 if fires else 0)
    bad = client.post(
        "/api/v1/alerts", headers=ops, json={**body, "rule": {"kind": "anomaly", "weeks": 1}}
    )
    assert bad.status_code == 400 and "rule.weeks" in bad.text
    grouped = client.post(
        "/api/v1/alerts", headers=ops, json={**body, "metric": {**metric, "by": "channel"}}
    )
    assert grouped.status_code == 400 and "metric" in grouped.text


def test_journey_health_finds_stuck_failed_and_spikes(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    now = dt.datetime(2024, 3, 19, 12, tzinfo=dt.UTC)
    with store.session() as s:
        for i, due in enumerate(
            [
                now - dt.timedelta(hours=3),
                now - dt.timedelta(minutes=10),
                now + dt.timedelta(hours=1),
            ]
        ):
            s.add(
                CustomerState(
                    journey_id="j1",
                    version=1,
                    customer_id=i,
                    visit=1,
                    entry_key="e",
                    node_id="wait",
                    status="waiting",
                    arm=None,
                    since=now,
                    entered_at=now,
                    due_at=due,
                    deadline_at=None,
                )
            )
        for i, status in enumerate(["dead", "dead", "retry", "sent"]):
            s.add(
                ReachOutbox(
                    key=f"k{i}",
                    channel="sms",
                    customer_id=i,
                    campaign="c1",
                    payload={},
                    status=status,
                    attempts=1,
                    next_attempt_at=now,
                    cost=0.0,
                    created_at=now,
                )
            )
        for d in range(1, 15):  # 2 suppressions a day, 30 on the last complete day
            n = 30 if d == 1 else 2
            for i in range(n):
                at = now - dt.timedelta(days=d)
                s.add(
                    ContactRow(
                        customer_id=i,
                        campaign="c1",
                        channel="sms",
                        kind="suppressed",
                        message_key=None,
                        reason="cap",
                        at=at,
                    )
                )
                s.add(
                    StepRow(
                        journey_id="j1",
                        version=1,
                        node_id="n",
                        customer_id=i,
                        visit=d,
                        outcome="suppressed",
                        reason="cap",
                        at=at,
                    )
                )
    h = journey_health(store=store, now=now, grace_minutes=60, days=14)
    assert h["stuck"] == [
        {
            "journey_id": "j1",
            "customers": 1,
            "oldest_due_at": (now - dt.timedelta(hours=3)).isoformat(),
        }
    ]
    assert h["failed_sends"] == [{"campaign": "c1", "dead": 2, "retrying": 1}]
    for key in ("contacts", "journey_steps"):
        assert h["suppressions"][key]["count"] == 30 and h["suppressions"][key]["spike"]
        assert h["suppressions"][key]["median"] == 2.0
    ok = journey_health(store=store, now=now - dt.timedelta(days=1), days=10)
    assert not ok["suppressions"]["contacts"]["spike"]
    hq = add_user(store, "hq", roles=["analyst"])
    b1 = add_user(store, "b1", roles=["analyst"], org_id="B01")
    assert client.get("/api/v1/monitor/journey-health", headers=hq).status_code == 200
    assert client.get("/api/v1/monitor/journey-health", headers=b1).status_code == 403
    assert alerts.STAFF_CUSTOMER_ID == 0


def test_campaign_evaluation_and_uplift_are_bank_wide(client: TestClient) -> None:
    wh = client.app.state.warehouse  # type: ignore[attr-defined]
    arm = ["mail", "holdout"] * 200
    conv = [int(i % 5 == 0 or (i % 2 == 0 and i % 7 == 0)) for i in range(400)]
    wh.replace_tables(
        {
            "exp": pa.table(
                {
                    "arm": arm,
                    "converted": conv,
                    "revenue": [10.0 * c for c in conv],
                    "aum_change": [float(i % 13) for i in range(400)],
                }
            )
        }
    )
    store = client.app.state.store  # type: ignore[attr-defined]
    hq = add_user(store, "hq", roles=["analyst"])
    b1 = add_user(store, "b1", roles=["analyst"], org_id="B01")
    body = {"table": "exp", "campaign": "spring", "treated": "mail", "holdout": "holdout"}
    ok = client.post("/api/v1/campaigns/evaluation", json=body, headers=hq)
    assert ok.status_code == 200, ok.text
    mail = sum(c for i, c in enumerate(conv) if i % 2 == 0)
    hold = sum(c for i, c in enumerate(conv) if i % 2 == 1)
    assert ok.json()["incremental_conversions"]["value"] == pytest.approx(mail - hold)
    assert ok.json()["costs"]["total"] == 0 and ok.json()["roi"]["value"] is None
    assert client.post("/api/v1/campaigns/evaluation", json=body, headers=b1).status_code == 403
    missing = client.post(
        "/api/v1/campaigns/evaluation", json={**body, "table": "nope"}, headers=hq
    )
    assert missing.status_code == 404 and "nope" in missing.text
    up = {"treatment": "mail", "control": "holdout", "outcome": "visit"}
    assert client.post("/api/v1/uplift/run", json=up, headers=b1).status_code == 403
    assert client.post("/api/v1/uplift/run", json=up, headers=hq).status_code == 404
