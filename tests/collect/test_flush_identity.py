"""Log → warehouse flushing, idempotent append, identity stitching, Sensors, sources."""

from __future__ import annotations

import base64
import gzip
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

from collect.conftest import Ingest
from opsloop.collect import identity, sources
from opsloop.collect.flush import flush_records, platform_of, to_rows
from opsloop.collect.log import EventLog
from opsloop.errors import ConflictError, InvalidInputError, NotFoundError
from opsloop.settings import get_settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse
from opsloop.warehouse.append import append


def _events(ingest: Ingest, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    wh: Warehouse = ingest.app.state.warehouse
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with wh.lock:  # wh.table() reads the schema outside the engine's lock
            rows = (
                wh.execute(wh.table("events").order_by("ts")).to_pylist()
                if "events" in wh.tables()
                else []
            )
        if len(rows) >= n:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} events reached the warehouse in {timeout}s")


def test_acknowledged_events_reach_the_warehouse_within_seconds(ingest: Ingest) -> None:
    now = datetime.now(UTC)
    batch = [
        {
            "type": "track",
            "anonymousId": "dev-9",
            "event": "app_open",
            "messageId": f"e{i}",
            "timestamp": (now - timedelta(minutes=10 - i)).isoformat(),
            "context": {"os": {"name": "iOS"}},
            "properties": {"i": i},
        }
        for i in range(5)
    ]
    t0 = time.monotonic()
    r = ingest.client.post("/v1/batch", json={"batch": batch}, auth=ingest.auth)
    assert r.status_code == 200
    rows = _events(ingest, 5)
    assert time.monotonic() - t0 < 5
    assert [row["message_id"] for row in rows] == [f"e{i}" for i in range(5)]
    assert {row["platform"] for row in rows} == {"ios"}
    assert orjson.loads(rows[2]["properties"]) == {"i": 2}
    # identify the device: later anonymous events are attributed to customer 1001
    ident = {"userId": "1001", "anonymousId": "dev-9", "messageId": "id1"}
    assert ingest.client.post("/v1/identify", json=ident, auth=ingest.auth).status_code == 200
    later = {"anonymousId": "dev-9", "event": "fund_buy", "messageId": "e9"}
    assert ingest.client.post("/v1/track", json=later, auth=ingest.auth).status_code == 200
    rows = {r["message_id"]: r for r in _events(ingest, 7)}
    assert rows["e9"]["customer_id"] == 1001 and rows["id1"]["event"] == "$identify"
    stats = ingest.client.get(
        "/api/v1/collect/stats", headers={"Authorization": f"Bearer {ingest.token}"}
    ).json()
    assert stats["warehouse_offset"] == 7 and stats["warehouse_inserted"] == 7


def test_redelivery_is_harmless(home: Path) -> None:
    settings = get_settings()
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    try:
        with EventLog(home / "events") as log:
            msgs = [
                {
                    "type": "track",
                    "userId": str(100 + i),
                    "event": "x",
                    "messageId": f"r{i}",
                    "timestamp": "2025-01-01T00:00:00.000Z",
                }
                for i in range(10)
            ]
            log.append([(m["messageId"], orjson.dumps(m)) for m in msgs])
            recs = log.read(0, 100)
            assert flush_records(recs[:6], store=store, warehouse=wh) == 6
            assert flush_records(recs, store=store, warehouse=wh) == 4  # 0..5 redelivered
            assert flush_records(recs, store=store, warehouse=wh) == 0
        got = wh.execute(wh.table("events")).column("customer_id").to_pylist()
        assert sorted(got) == list(range(100, 110))
    finally:
        wh.close()
        store.close()


def test_append_dedupes_within_a_batch_and_rolls_back_on_error(home: Path) -> None:
    wh = Warehouse.open(str(home / "w.duckdb"))
    try:
        msgs = [
            {"type": "track", "userId": "1", "event": "a", "messageId": "same", "timestamp": t}
            for t in ("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z")
        ]
        assert append(wh, "events", to_rows(msgs, {})) == 1
        with pytest.raises(InvalidInputError):
            append(wh, "nope", pa.table({"a": [1]}))
        bad = to_rows(msgs, {}).set_column(0, "message_id", pa.array([None, None], pa.string()))
        with pytest.raises(ValueError):
            append(wh, "events", bad)
        assert wh.execute(wh.table("events")).num_rows == 1
    finally:
        wh.close()


def test_identity_rules() -> None:
    msgs = [
        {"type": "track", "anonymousId": "a1", "event": "x"},
        {"type": "identify", "anonymousId": "a1", "userId": "7"},
        {"type": "identify", "anonymousId": "a1", "userId": "8"},  # shared device: ignored
        {"type": "alias", "previousId": "a2", "userId": "9"},
        {"type": "track", "anonymousId": "a3", "userId": "a3", "event": "x"},  # same id
    ]
    links = identity.links_in(msgs)
    assert [(x.anonymous_id, x.user_id, x.via) for x in links] == [
        ("a1", "7", "identify"),
        ("a2", "9", "alias"),
    ]
    known = identity.merge({"a2": "5"}, links)
    assert known == {"a1": "7", "a2": "5"}  # an existing link is never moved
    assert identity.resolve({"anonymousId": "a1"}, known) == "7"
    assert identity.resolve({"anonymousId": "a1", "userId": "8"}, known) == "8"
    assert identity.resolve({"anonymousId": "zz"}, known) is None
    assert identity.customer_id("0042") == 42
    assert identity.customer_id("C42") is None
    assert identity.customer_id("9" * 19) is None


def test_identity_links_persist_first_wins(home: Path) -> None:
    store = Store.open(get_settings().database_url)
    try:
        identity.save_links(store, [identity.Link("a", "1", "identify")])
        identity.save_links(store, [identity.Link("a", "2", "identify")])
        assert identity.load_links(store, ["a", "b"]) == {"a": "1"}
    finally:
        store.close()


def test_platform_detection() -> None:
    assert platform_of({"context": {"os": {"name": "Android"}}}) == "android"
    assert platform_of({"context": {"library": {"name": "analytics.js"}}}) == "web"
    assert platform_of({"properties": {"$lib": "MiniProgram"}}) == "miniprogram"
    assert platform_of({"context": {"library": {"name": "analytics-python"}}}) is None


def test_sources_lifecycle(home: Path) -> None:
    store = Store.open(get_settings().database_url)
    try:
        info, key = sources.create_source(store, name="web")
        assert key.startswith("olk_") and info.key_hint == key[:10]
        with pytest.raises(ConflictError):
            sources.create_source(store, name="web")
        with pytest.raises(InvalidInputError):
            sources.create_source(store, name="bad name!")
        with pytest.raises(InvalidInputError):
            sources.create_source(store, name="x", kind="kafka")
        found = sources.find_source(store, key=key)
        assert found is not None and found.source_id == info.source_id
        assert sources.find_source(store, key=key + "x") is None
        assert sources.revoke_source(store, name="web").revoked_at is not None
        assert sources.find_source(store, key=key) is None
        with pytest.raises(NotFoundError):
            sources.revoke_source(store, name="nope")
        assert [s.name for s in sources.list_sources(store)] == ["web"]
    finally:
        store.close()


def _sa_form(records: list[dict[str, Any]]) -> dict[str, str]:
    raw = base64.b64encode(gzip.compress(orjson.dumps(records))).decode()
    return {"data_list": raw, "gzip": "1"}


def test_sensors_endpoint(ingest: Ingest) -> None:
    sources.create_source(ingest.app.state.store, name="mbank", kind="sensors")
    now_ms = int(time.time() * 1000)
    recs = [
        {
            "type": "track",
            "event": "ViewProduct",
            "distinct_id": "dev-1",
            "time": now_ms - 5000,
            "_track_id": 123,
            "_flush_time": now_ms,
            "lib": {"$lib": "Android"},
            "properties": {"product": "F1"},
        },
        {
            "type": "track_signup",
            "event": "$SignUp",
            "distinct_id": "2002",
            "original_id": "dev-1",
            "time": now_ms - 1000,
            "_track_id": 124,
        },
        {
            "type": "profile_set",
            "distinct_id": "2002",
            "time": now_ms,
            "properties": {"$is_login_id": True, "tier": "gold"},
            "_track_id": 125,
        },
    ]
    for _ in range(2):  # a retry stores nothing new
        r = ingest.client.post("/sa?project=mbank", data=_sa_form(recs))
        assert r.status_code == 200, r.text
    stored = ingest.stored()
    assert [m["event"] for m in stored] == ["ViewProduct", "$SignUp", "$profile_set"]
    assert stored[1]["userId"] == "2002" and stored[1]["anonymousId"] == "dev-1"
    assert stored[2]["type"] == "identify" and stored[2]["userId"] == "2002"
    skew = datetime.fromisoformat(stored[0]["receivedAt"]) - datetime.fromisoformat(
        stored[0]["timestamp"]
    )
    assert timedelta(seconds=4) < skew < timedelta(seconds=6)
    rows = {r["event"]: r for r in _events(ingest, 3)}
    assert rows["ViewProduct"]["platform"] == "android"
    assert rows["ViewProduct"]["customer_id"] == 2002  # linked by the signup in the same batch


@pytest.mark.parametrize(
    ("project", "form", "status"),
    [
        ("nope", _sa_form([{"type": "track", "event": "e", "distinct_id": "d"}]), 401),
        ("app-ios", _sa_form([{"type": "track", "event": "e", "distinct_id": "d"}]), 401),
        ("mbank", {"data_list": "!!!notbase64", "gzip": "1"}, 400),
        ("mbank", {"gzip": "1"}, 400),
        ("mbank", _sa_form([{"type": "weird", "distinct_id": "d"}]), 400),
        ("mbank", _sa_form([{"type": "track", "event": "e"}]), 400),
        (
            "mbank",
            _sa_form([{"type": "track", "event": "e", "distinct_id": "d", "time": "x"}]),
            400,
        ),
    ],
)
def test_sensors_rejects(ingest: Ingest, project: str, form: dict[str, str], status: int) -> None:
    sources.create_source(ingest.app.state.store, name="mbank", kind="sensors")
    r = ingest.client.post(f"/sa?project={project}", data=form)
    assert r.status_code == status, r.text
    assert ingest.stored() == []
