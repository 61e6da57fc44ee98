"""Erasure reaches the raw event stream (embedded log segments, Redis stream entries)
and a PostgreSQL warehouse — each checked against a brute-force oracle over the
messages that were sent."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from collect.conftest import Ingest
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.collect import consent
from opsloop.collect.flush import flush_records
from opsloop.collect.log import EventLog, Record
from opsloop.collect.models import IdentityLink
from opsloop.collect.redis_stream import RedisStream
from opsloop.store import Store
from opsloop.warehouse import Warehouse

STAFF = {"Authorization": "Bearer staff-token"}


def _messages(seed: int, n: int = 120) -> list[dict[str, Any]]:
    """Tracks by three customers, their devices and strangers; customer 101 logs in on
    dev-a (identify) — a link the stream carries before any flush."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = [
        {"type": "identify", "userId": "101", "anonymousId": "dev-a", "messageId": "id-0"}
    ]
    for i in range(n):
        m: dict[str, Any] = {"type": "track", "event": "fund_view", "messageId": f"m{seed}-{i}"}
        who = rng.choice(["101", "202", "303", None])
        if who:
            m["userId"] = who
        m["anonymousId"] = rng.choice(["dev-a", "dev-b", "dev-c", f"x{i}"])
        m["context"] = {"ip": "10.0.0.1"}
        out.append(m)
    return out


def _theirs(msgs: list[dict[str, Any]], user: str = "101") -> set[str]:
    """Oracle, straight from the documented identity rules: a message is the
    customer's when its userId is theirs, or it has none and its device's *first*
    login (a message with both ids, in order) was theirs."""
    first: dict[str, str] = {}
    for m in msgs:
        if m.get("userId") and m.get("anonymousId"):
            first.setdefault(m["anonymousId"], m["userId"])
    return {
        m["messageId"]
        for m in msgs
        if m.get("userId") == user
        or (not m.get("userId") and first.get(m.get("anonymousId", "")) == user)
    }


def _post(ingest: Ingest, msgs: list[dict[str, Any]]) -> None:
    for i in range(0, len(msgs), 25):
        r = ingest.client.post("/v1/batch", json={"batch": msgs[i : i + 25]}, auth=ingest.auth)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("mode", ["delete", "anonymise"])
def test_api_erasure_rewrites_the_embedded_log(ingest: Ingest, mode: str) -> None:
    msgs = _messages(1)
    _post(ingest, msgs)
    log = ingest.collector.log
    assert isinstance(log, EventLog)
    before = {r.message_id: r for r in log.read(0, 10**6)}
    assert len(before) == len(msgs)
    r = ingest.client.post(
        "/api/v1/collect/erasure", json={"customer_id": "101", "mode": mode}, headers=STAFF
    )
    assert r.status_code == 200, r.text
    theirs = _theirs(msgs)
    assert r.json()["stream_records"] == len(theirs) > 10
    after = {rec.message_id: rec for rec in log.read(0, 10**6)}
    # others untouched: same offsets and bytes
    for mid, rec in before.items():
        if mid not in theirs:
            assert after[mid] == rec
    if mode == "delete":
        assert set(after) == set(before) - theirs
    else:
        assert set(after) == set(before)
        for mid in theirs:
            m = orjson.loads(after[mid].payload)
            assert "userId" not in m and m["anonymousId"] == consent.ANONYMISED
            assert "ip" not in m.get("context", {})
    # nothing of them is left in the raw bytes of any segment
    for f in (ingest.app.state.settings.home / "events").glob("*.log"):
        data = f.read_bytes()
        assert b'"userId":"101"' not in data


def test_cli_erasure_rewrites_the_log_without_a_server(home: Path) -> None:
    from opsloop.cli.collect import _privacy
    from opsloop.collect.stream import open_stream, release
    from opsloop.settings import get_settings

    settings = get_settings()
    settings.ensure_home()
    Store.open(settings.database_url).close()
    stream = open_stream(settings.home, None)
    msgs = _messages(2)
    stream.append([(m["messageId"], orjson.dumps(m)) for m in msgs])
    release(stream)
    out = _privacy("erasure", {"customer_id": "101"})
    theirs = _theirs(msgs)
    assert out["stream_records"] == len(theirs)
    with EventLog(settings.home / "events") as log:
        left = {r.message_id for r in log.read(0, 10**6)}
    assert left == {m["messageId"] for m in msgs} - theirs


def test_erasure_deletes_redis_stream_entries(tmp_path: Path, redis_url: str) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    wh = Warehouse.open(str(tmp_path / "wh.duckdb"))
    stream = RedisStream(redis_url, prefix="opsloop:t5erase")
    try:
        msgs = _messages(3)
        # a journey consumer read half the entries but never acked them (pending)
        consumer = stream.consumer("journeys", batch=60)
        stream.append([(m["messageId"], orjson.dumps(m)) for m in msgs])
        pending = consumer.poll()
        assert len(pending) == 60
        r = consent.erase(store, wh, "101", actor=LOCAL_OPERATOR, stream=stream)
        theirs = _theirs(msgs)
        assert r.stream_records == len(theirs) > 10
        assert "dev-a" in r.anonymous_ids  # from the stream: no link was ever flushed
        entries = stream.client.xrange(stream.stream)
        left = {f[b"m"].decode() for _, f in entries}
        assert left == {m["messageId"] for m in msgs} - theirs
        assert all(b'"userId":"101"' not in f[b"p"] for _, f in entries)
        # a restarted consumer re-reads its pending list: the erased ones are gone
        again = stream.consumer("journeys", batch=1000)
        got = again.poll() + again.poll()
        assert {rec.message_id for rec in got} == left
        # retries of erased messages stay duplicates (their ids are still claimed)
        assert stream.append([(m, b"{}") for m in sorted(theirs)[:3]]).stored == 0
    finally:
        stream.close()
        wh.close()
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["delete", "anonymise"])
def test_erasure_on_a_postgresql_warehouse(tmp_path: Path, pg_url: str, mode: str) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    wh = Warehouse.open(pg_url)
    try:
        msgs = _messages(4, n=200)
        for m in msgs:
            m["timestamp"] = "2026-11-20T10:00:00Z"
        msgs.append(  # a non-numeric user id is kept in properties.$user_id
            {
                "type": "track",
                "event": "x",
                "messageId": "named",
                "userId": "alice",
                "timestamp": "2026-11-20T10:00:00Z",
            }
        )
        records = [Record(i, m["messageId"], orjson.dumps(m)) for i, m in enumerate(msgs)]
        assert flush_records(records, store=store, warehouse=wh) == len(msgs)
        with store.session() as s:
            assert s.get(IdentityLink, "dev-a") is not None
        r = consent.erase(store, wh, "101", actor=LOCAL_OPERATOR, mode=mode)
        theirs = _theirs(msgs)
        assert r.events == len(theirs) > 10
        rows = wh.sql(
            "select message_id, customer_id, anonymous_id, properties from events"
        ).to_pylist()
        by_id = {row["message_id"]: row for row in rows}
        if mode == "delete":
            assert set(by_id) == {m["messageId"] for m in msgs} - theirs
        else:
            assert set(by_id) == {m["messageId"] for m in msgs}
            for mid in theirs:
                assert by_id[mid]["customer_id"] is None
                assert by_id[mid]["anonymous_id"] == consent.ANONYMISED
        assert not any(row["customer_id"] == 101 for row in rows)
        # non-numeric user ids are found through properties on PostgreSQL too
        r2 = consent.erase(store, wh, "alice", actor=LOCAL_OPERATOR, mode="delete")
        assert r2.events == 1
        left = wh.sql("select message_id from events").to_pylist()
        assert "named" not in {row["message_id"] for row in left}
    finally:
        wh.close()
        store.close()
