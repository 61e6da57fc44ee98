"""The Redis Streams event stream against a real Redis: stored once, at-least-once
delivery through consumer groups, positions that survive a restart, same consumer API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from opsloop.api.app import create_app
from opsloop.collect import sources
from opsloop.collect.log import Record
from opsloop.collect.redis_stream import RedisStream, pack, unpack
from opsloop.collect.service import Collector
from opsloop.settings import get_settings


@pytest.fixture
def stream(redis_url: str) -> Iterator[RedisStream]:
    with RedisStream(redis_url, prefix="t:ev") as s:
        yield s


def test_offsets_pack_in_order() -> None:
    assert unpack(pack("1700000000123-7")) == "1700000000123-7"
    assert pack("5-0") < pack("5-1") < pack("6-0")


def test_retries_are_stored_once(stream: RedisStream) -> None:
    first = stream.append([("a", b"1"), ("b", b"2"), ("a", b"dup in batch")])
    assert first.stored == 2 and first.duplicates == ("a",)
    again = stream.append([("b", b"2"), ("c", b"3")])
    assert again.stored == 1 and again.duplicates == ("b",)
    assert stream.end_offset == 3 and "c" in stream and "z" not in stream
    assert asyncio.run(stream.append_async([("c", b"3")])).duplicates == ("c",)


def test_unacked_records_are_redelivered_after_restart(redis_url: str) -> None:
    with RedisStream(redis_url, prefix="t:ev") as s:
        s.append([(f"m{i}", f"p{i}".encode()) for i in range(5)])
        c = s.consumer("wh", batch=3)
        got = c.poll()
        assert [r.message_id for r in got] == ["m0", "m1", "m2"]
        c.commit()
        assert [r.message_id for r in c.poll()] == ["m3", "m4"]  # read, then "crash"
        assert s.committed("wh") == 5
    with RedisStream(redis_url, prefix="t:ev") as s:  # restart: pending ones come back
        c = s.consumer("wh", batch=10)
        again = c.poll()
        assert [(r.message_id, r.payload) for r in again] == [("m3", b"p3"), ("m4", b"p4")]
        c.commit()
        assert c.poll(timeout=0.05) == []
        s.append([("m5", b"p5")])
        assert [r.message_id for r in c.poll(timeout=1)] == ["m5"]
        # another consumer group starts from the beginning, independently
        assert len(s.consumer("audit", batch=100).poll()) == 6


def test_async_iterator_and_subscription(stream: RedisStream) -> None:
    stream.append([(f"x{i}", b"x") for i in range(4)])

    async def first_two_batches() -> list[str]:
        out: list[str] = []
        async for batch in stream.consumer("it", batch=2):
            out += [r.message_id for r in batch]
            if len(out) == 4:
                break
        return out

    assert asyncio.run(first_two_batches()) == ["x0", "x1", "x2", "x3"]

    seen: list[str] = []
    calls = [0]

    def handler(records: list[Record]) -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("warehouse down")  # redelivered after a pause
        seen.extend(r.message_id for r in records)

    sub = stream.subscribe("sub", handler)
    deadline = time.monotonic() + 10
    while len(seen) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    sub.stop()
    assert seen == ["x0", "x1", "x2", "x3"] and sub.errors == 1
    assert stream.committed("sub") == 4


def test_two_server_processes_share_one_stream(home: Path, redis_url: str) -> None:
    """With Redis there is no single-writer log: two apps on one home both ingest, a
    retry through the other one is stored once, and the warehouse gets each event once."""
    settings = get_settings().model_copy(update={"redis_url": redis_url})
    one_app = create_app(settings, local_token="t")
    two_app = create_app(settings, local_token="t")
    with TestClient(one_app) as one, TestClient(two_app) as two:
        collector: Collector = one_app.state.collector
        assert isinstance(collector.log, RedisStream)
        _, key = sources.create_source(one_app.state.store, name="web")
        now = datetime.now(UTC).isoformat()
        batch = [
            {
                "type": "track",
                "userId": "42",
                "event": "login",
                "messageId": f"r{i}",
                "timestamp": now,
            }
            for i in range(10)
        ]
        assert one.post("/v1/batch", json={"batch": batch}, auth=(key, "")).status_code == 200
        assert two.post("/v1/batch", json={"batch": batch}, auth=(key, "")).status_code == 200
        assert collector.log.end_offset == 10
        wh = one_app.state.warehouse
        deadline = time.monotonic() + 10
        n = 0
        while time.monotonic() < deadline:
            with wh.lock:
                if "events" in wh.tables():
                    n = wh.execute(wh.table("events")).num_rows
            if n >= 10:
                break
            time.sleep(0.1)
        assert n == 10


def test_a_subscription_survives_a_stream_error(redis_url: str) -> None:
    """The stream key deleted under a blocked read (UNBLOCKED): the consumer thread
    keeps going (it used to die, silently stopping delivery)."""
    import threading as _threading

    import redis as _redis

    got: list[str] = []
    seen = _threading.Event()
    with RedisStream(redis_url, prefix="t5:survive") as rs:

        def handler(records: list[Record]) -> None:
            got.extend(r.message_id for r in records)
            seen.set()

        sub = rs.subscribe("c", handler)
        try:
            rs.append([("a", b"{}")])
            assert seen.wait(10)
            _redis.Redis.from_url(redis_url).delete(rs.stream)  # unblocks the reader
            deadline = time.monotonic() + 10
            while sub.errors == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sub.errors >= 1 and sub._thread.is_alive()
        finally:
            sub.stop()
