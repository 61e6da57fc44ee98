"""Redis Streams retention on the real Redis: trimming removes only what every
consumer group has acknowledged; nothing pending or unread is ever lost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from opsloop.collect.redis_stream import RedisStream


@pytest.fixture
def stream(redis_url: str) -> Iterator[RedisStream]:
    with RedisStream(redis_url, prefix="t:trim", trim_every_s=None) as s:
        yield s


def _fill(s: RedisStream, n: int, tag: str = "m") -> None:
    s.append([(f"{tag}{i}", f"p{i}".encode()) for i in range(n)])


def _ids(s: RedisStream) -> list[str]:
    return [f[b"m"].decode() for _id, f in s.client.xrange(s.stream)]


def test_without_groups_nothing_is_trimmed(stream: RedisStream) -> None:
    _fill(stream, 10)
    assert stream.trim(approximate=False) == 0
    assert len(_ids(stream)) == 10


def test_a_group_that_read_nothing_holds_everything(stream: RedisStream) -> None:
    _fill(stream, 10)
    fast = stream.consumer("fast", batch=100)
    assert len(fast.poll()) == 10
    fast.commit()
    stream.consumer("idle")  # created at the start of the stream, never polled
    assert stream.trim(approximate=False) == 0
    assert len(_ids(stream)) == 10


def test_trims_only_what_every_group_acknowledged(stream: RedisStream) -> None:
    _fill(stream, 10)
    fast = stream.consumer("fast", batch=100)
    assert len(fast.poll()) == 10
    fast.commit()  # fast acknowledged m0..m9
    slow = stream.consumer("slow", batch=4)
    assert [r.message_id for r in slow.poll()] == ["m0", "m1", "m2", "m3"]
    slow.commit()  # slow acknowledged m0..m3
    assert [r.message_id for r in slow.poll()] == ["m4", "m5", "m6", "m7"]  # pending
    assert stream.trim(approximate=False) == 4  # m0..m3 only
    assert _ids(stream) == [f"m{i}" for i in range(4, 10)]
    # slow crashes: a restarted consumer gets its pending entries, then the unread
    again = stream.consumer("slow", batch=100)
    assert [r.message_id for r in again.poll()] == ["m4", "m5", "m6", "m7"]
    assert [r.message_id for r in again.poll()] == ["m8", "m9"]
    again.commit()
    assert stream.trim(approximate=False) == 6
    assert _ids(stream) == []
    _fill(stream, 3, tag="n")  # later entries are delivered normally after a trim
    assert [r.message_id for r in again.poll()] == ["n0", "n1", "n2"]


def test_append_trims_by_itself(redis_url: str) -> None:
    with RedisStream(redis_url, prefix="t:trim2", trim_every_s=0.0) as s:
        c = s.consumer("only", batch=1000)
        for round_ in range(3):
            _fill(s, 150, tag=f"r{round_}-")
            assert len(c.poll()) == 150
            c.commit()
        _fill(s, 1, tag="last")  # this append trims the 450 acknowledged (approximately)
        left = _ids(s)
        assert left[-1] == "last0"
        assert len(left) < 451 and s.trimmed == 451 - len(left)
        assert [r.message_id for r in c.poll()] == ["last0"]  # not acknowledged: kept
