"""Tracking consent (profile property or API) and the right to erasure, both audited."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from collect.conftest import Ingest
from opsloop.access.models import AuditEntry
from opsloop.cli import collect as collect_cli
from opsloop.cli.main import app as main_app
from opsloop.collect import consent
from opsloop.collect.models import CollectConsent, IdentityLink
from opsloop.settings import get_settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

STAFF = {"Authorization": "Bearer staff-token"}


def _track(user: str | None = None, anon: str | None = None, mid: str = "", **kw: Any) -> Any:
    m: dict[str, Any] = {"type": "track", "event": "fund_view", "messageId": mid, **kw}
    if user:
        m["userId"] = user
    if anon:
        m["anonymousId"] = anon
    return m


def _post(ingest: Ingest, *msgs: dict[str, Any]) -> None:
    r = ingest.client.post("/v1/batch", json={"batch": list(msgs)}, auth=ingest.auth)
    assert r.status_code == 200, r.text


def _audit(store: Store, action: str) -> list[AuditEntry]:
    with store.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _wait_flushed(ingest: Ingest, n: int) -> None:
    deadline = time.monotonic() + 20
    while ingest.collector.log.committed("warehouse") < n and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ingest.collector.log.committed("warehouse") >= n


# -- pure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("traits", "expected"),
    [
        ({"consent": {"tracking": False}}, False),
        ({"consent.tracking": "true"}, True),
        ({"$tracking_consent": False}, False),  # Sensors profile_set
        ({"tier": "gold"}, None),
        ({"consent": "no"}, None),
    ],
)
def test_consent_signal(traits: dict[str, Any], expected: bool | None) -> None:
    assert consent.consent_signal({"type": "identify", "traits": traits}) is expected
    assert consent.consent_signal({"type": "track", "properties": traits}) is None


def test_apply_drops_or_anonymises_only_blocked_people() -> None:
    msgs = [
        _track("7", mid="a", context={"ip": "1.2.3.4", "app": {"v": 1}}),
        _track(None, "dev-7", mid="b"),
        _track("8", mid="c"),
    ]
    kept, hit = consent.apply(msgs, {"7", "dev-7"}, "drop")
    assert [m["messageId"] for m in kept] == ["c"] and hit == 2
    kept, hit = consent.apply(msgs, {"7", "dev-7"}, "anonymise")
    assert hit == 2 and [m["messageId"] for m in kept] == ["a", "b", "c"]
    assert "userId" not in kept[0] and kept[0]["anonymousId"] == consent.ANONYMISED
    assert kept[0]["context"] == {"app": {"v": 1}}  # ip gone, the rest kept
    assert kept[2] == msgs[2]


# -- through the API -------------------------------------------------------------------------


def test_withdrawal_by_profile_property_drops_further_events(ingest: Ingest) -> None:
    _post(ingest, _track("1001", "dev-1", mid="before"))
    _post(
        ingest,
        {
            "type": "identify",
            "userId": "1001",
            "anonymousId": "dev-1",
            "messageId": "withdraw",
            "traits": {"consent": {"tracking": False}},
        },
    )
    # identity link dev-1 -> 1001 reaches the store via the flusher
    _wait_flushed(ingest, 1)
    deadline = time.monotonic() + 10
    while "dev-1" not in consent.blocked_ids(ingest.app.state.store):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    ingest.collector.consent.reload()
    _post(ingest, _track("1001", mid="after-user"), _track(None, "dev-1", mid="after-anon"))
    _post(ingest, _track("2002", mid="other"))
    ids = [m["messageId"] for m in ingest.stored()]
    assert ids == ["before", "other"]  # the withdrawal itself is not stored either
    entries = _audit(ingest.app.state.store, "collect.consent.withdraw")
    assert [e.target_id for e in entries] == ["1001"]
    # granting again lets events in
    r = ingest.client.post(
        "/api/v1/collect/consent", json={"customer_id": "1001", "tracking": True}, headers=STAFF
    )
    assert r.status_code == 200 and r.json()["changed"] is True
    _post(ingest, _track("1001", mid="regranted"))
    assert ingest.stored()[-1]["messageId"] == "regranted"


def test_withdrawal_by_api_with_anonymise_mode(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSLOOP_COLLECT_CONSENT_MODE", "anonymise")
    ingest.collector.consent.settings = consent.ConsentSettings()
    r = ingest.client.post(
        "/api/v1/collect/consent", json={"customer_id": "3003", "tracking": False}, headers=STAFF
    )
    assert r.status_code == 200 and r.json() == {
        "customer_id": "3003",
        "tracking": False,
        "changed": True,
    }
    _post(ingest, _track("3003", "dev-3", mid="x1", context={"ip": "10.0.0.1"}))
    (msg,) = ingest.stored()
    assert msg["messageId"] == "x1" and "userId" not in msg
    assert msg["anonymousId"] == consent.ANONYMISED and "ip" not in msg.get("context", {})
    assert _audit(ingest.app.state.store, "collect.consent.withdraw")[0].actor != ""


def test_bad_consent_bodies_are_4xx(ingest: Ingest) -> None:
    for body in ({"customer_id": "", "tracking": False}, {"customer_id": "1"}, {"x": 1}):
        r = ingest.client.post("/api/v1/collect/consent", json=body, headers=STAFF)
        assert r.status_code == 422, r.text
    r = ingest.client.post("/api/v1/collect/erasure", json={"customer_id": "a b"}, headers=STAFF)
    assert r.status_code == 422


def test_erasure_removes_events_links_and_blocks_redelivery(ingest: Ingest) -> None:
    _post(
        ingest,
        {"type": "identify", "userId": "4004", "anonymousId": "dev-4", "messageId": "e1"},
        _track(None, "dev-4", mid="e2"),
        _track("4004", mid="e3"),
        _track("5005", mid="keep"),
    )
    _wait_flushed(ingest, 4)
    wh: Warehouse = ingest.app.state.warehouse
    assert wh.sql("select count(*) as n from events").to_pylist()[0]["n"] == 4
    r = ingest.client.post("/api/v1/collect/erasure", json={"customer_id": "4004"}, headers=STAFF)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "customer_id": "4004",
        "mode": "delete",
        "events": 3,
        "identity_links": 1,
        "stream_records": 3,
    }
    rows = wh.sql("select message_id from events").to_pylist()
    assert rows == [{"message_id": "keep"}]
    store = ingest.app.state.store
    with store.session() as s:
        assert s.scalars(select(IdentityLink).where(IdentityLink.user_id == "4004")).all() == []
        assert s.get(CollectConsent, "4004").erased_at is not None  # type: ignore[union-attr]
    assert [e.target_id for e in _audit(store, "collect.erasure")] == ["4004"]
    # further events of the customer or their old device are dropped
    _post(ingest, _track("4004", mid="late"), _track(None, "dev-4", mid="late-anon"))
    assert "late" not in {m["messageId"] for m in ingest.stored()}
    # the flusher skips erased people if the log redelivers (replay from offset 0)
    from opsloop.collect.flush import flush_records

    records = ingest.collector.log.read(0, 100)
    inserted = flush_records(records, store=store, warehouse=wh, erased=consent.erased_ids(store))
    assert inserted == 0
    assert wh.sql("select message_id from events").to_pylist() == [{"message_id": "keep"}]


def test_erasure_anonymise_mode_keeps_counts(ingest: Ingest) -> None:
    _post(ingest, _track("6006", mid="a1"), _track("6006", mid="a2"), _track("7", mid="b"))
    _wait_flushed(ingest, 3)
    r = ingest.client.post(
        "/api/v1/collect/erasure",
        json={"customer_id": "6006", "mode": "anonymise"},
        headers=STAFF,
    )
    assert r.status_code == 200 and r.json()["events"] == 2
    wh: Warehouse = ingest.app.state.warehouse
    rows = wh.sql(
        "select message_id, customer_id, anonymous_id, properties from events order by 1"
    ).to_pylist()
    assert [r["customer_id"] for r in rows] == [None, None, 7]
    assert rows[0]["anonymous_id"] == consent.ANONYMISED and rows[0]["properties"] == "{}"


def test_cli_erase_without_a_server(home: Path) -> None:
    store = Store.open(get_settings().database_url)
    with store.session() as s:
        s.add(IdentityLink(anonymous_id="dev-9", user_id="9009", via="identify", linked_at=_now()))
    store.close()
    root = typer.Typer()
    root.callback()(main_app.registered_callback.callback)  # type: ignore[union-attr]
    root.add_typer(collect_cli.privacy_app, name="collect")
    r = CliRunner().invoke(root, ["collect", "erase", "9009"])
    assert r.exit_code == 0, r.output
    out = orjson.loads(r.stdout.strip().splitlines()[-1])
    assert out["identity_links"] == 1 and out["mode"] == "delete"
    r = CliRunner().invoke(root, ["collect", "consent", "9010", "--withdraw"])
    assert r.exit_code == 0 and orjson.loads(r.stdout.strip().splitlines()[-1])["changed"]
    store = Store.open(get_settings().database_url)
    try:
        assert {"9009", "dev-9", "9010"} <= consent.blocked_ids(store)
        assert [e.action for e in _audit(store, "collect.erasure")] == ["collect.erasure"]
    finally:
        store.close()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
