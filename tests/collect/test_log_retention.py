"""Log retention (old sealed segments deleted only once everyone has consumed them) and
in-place rewriting for erasure (tombstones keep offsets; files replaced atomically)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from opsloop.collect.log import TOMBSTONE, EventLog

DAY = 24 * 3600.0


def _fill(log: EventLog, prefix: str, n: int, user: str = "u") -> None:
    for i in range(0, n, 10):
        log.append(
            [
                (f"{prefix}{j}", orjson.dumps({"userId": f"{user}{j % 5}", "pad": "x" * 150}))
                for j in range(i, min(n, i + 10))
            ]
        )


def _bounds(log: EventLog) -> list[tuple[int, int]]:
    return [(s.base, s.base + s.count) for s in log._segments]


def test_nothing_is_retired_before_the_flusher_and_every_consumer_are_past(
    tmp_path: Path,
) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096, retention_s=DAY, dedupe_window_s=0.0) as log:
        _fill(log, "a", 300)
        log.settle()  # no id window: nothing holds segments back but the consumers
        segs = _bounds(log)
        assert len(segs) >= 6
        later = time.time() + 2 * DAY
        # no warehouse flusher offset at all: keep everything
        log.commit("journeys", log.end_offset)
        assert log.retire(now=later) == []
        # the flusher is past everything but a journey consumer is in segment 2
        log.commit("warehouse", log.end_offset)
        log.commit("journeys", segs[2][0] + 1)
        assert log.retire(now=time.time()) == []  # too young
        gone = log.retire(now=later)
        assert gone == [f"{b:020d}.log" for b, _ in segs[:2]]
        assert not (d / gone[0]).exists() and not (d / gone[0].replace(".log", ".ids")).exists()
        # everything the slowest consumer still needs is readable, unchanged
        got = log.read(0, 10**6)
        assert got[0].offset == segs[2][0]
        assert [r.message_id for r in got] == [f"a{i}" for i in range(segs[2][0], 300)]
        log.commit("journeys", log.end_offset)
        log.retire(now=later)
        assert len(log._segments) == 1  # only the active segment is left, never deleted
        end = log.end_offset
    with EventLog(d, segment_bytes=4096, retention_s=DAY) as log:  # reopens after the gap
        assert log.end_offset == end
        assert log.append([("new", b"{}")]).offsets == (end,)
        assert [r.message_id for r in log.consumer("journeys").poll()] == ["new"]


@pytest.mark.parametrize("seed", range(8))
def test_retired_segments_are_exactly_the_old_fully_consumed_prefix(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096, retention_s=DAY, dedupe_window_s=0.0) as log:
        _fill(log, "b", rng.randrange(100, 400))
        log.settle()
        segs = _bounds(log)
        sealed_at = [s.sealed_at for s in log._segments]
        positions = {n: rng.randrange(0, log.end_offset + 1) for n in ("warehouse", "j1", "j2")}
        for name, pos in positions.items():
            log.commit(name, pos)
        # pretend some segments were sealed long ago (oldest first)
        old = rng.randrange(0, len(segs))
        for s in log._segments[:old]:
            s.sealed_at = time.time() - 3 * DAY
        gone = log.retire()
        # oracle: the longest prefix of sealed, old segments ending at or before every position
        expect = []
        for i, (base, end) in enumerate(segs[:-1]):
            if i >= old or sealed_at[i] is None or end > min(positions.values()):
                break
            expect.append(f"{base:020d}.log")
        assert gone == expect
        kept = log.read(0, 10**6)
        lowest = min(positions.values())
        assert [r.offset for r in kept if r.offset >= lowest] == list(range(lowest, log.end_offset))


def test_retention_runs_on_roll_in_the_background(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096, retention_s=0.0, dedupe_window_s=0.0) as log:
        _fill(log, "c", 100)
        log.commit("warehouse", log.end_offset)
        first = _bounds(log)[0]
        _fill(log, "d", 100)  # rolls again: retirement runs
        deadline = time.monotonic() + 10
        while log._segments[0].base == first[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.retired and log._segments[0].base > first[0]


def test_a_segment_whose_ids_are_in_the_dedupe_window_is_kept(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096, retention_s=0.0) as log:  # window: 7 days
        _fill(log, "c", 200)
        log.commit("warehouse", log.end_offset)
        log.settle()
        assert log.retire(now=time.time() + 2 * DAY) == []
        assert log.append([("c0", b"{}")]).duplicates == ("c0",)  # still a duplicate


def _erase_user(user: str) -> Callable[[str, bytes], bytes | None]:
    def replace(_mid: str, payload: bytes) -> bytes | None:
        return TOMBSTONE if orjson.loads(payload).get("userId") == user else None

    return replace


def test_rewrite_tombstones_records_in_sealed_and_active_segments(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096) as log:
        _fill(log, "e", 230, user="u")
        consumer = log.consumer("journeys")
        consumer.poll()  # part way
        before = log.read(0, 10**6)
        n = log.rewrite(_erase_user("u3"), needles=[b"u3"])
        assert n == sum(1 for r in before if orjson.loads(r.payload)["userId"] == "u3") == 46
        after = log.read(0, 10**6)
        # every other record keeps its offset, id and payload
        assert after == [r for r in before if orjson.loads(r.payload)["userId"] != "u3"]
        for f in d.glob("*.log"):
            assert b'"u3"' not in f.read_bytes()
        # appends after the rewrite go to the rewritten active segment
        res = log.append([("later", orjson.dumps({"userId": "u9"})), ("e3", b"{}")])
        assert res.stored == 1 and res.duplicates == ("e3",)  # erased ids still dedupe
        rest = consumer.poll() + consumer.poll() + consumer.poll()
        assert rest[-1].message_id == "later"
        assert all(orjson.loads(r.payload)["userId"] != "u3" for r in rest)
        end = log.end_offset
    with EventLog(d, segment_bytes=4096) as log:
        assert log.segments_scanned == 1  # the rewritten sidecars are valid
        assert log.end_offset == end
        assert log.read(0, 10**6) == [*after, *log.read(end - 1, 1)]
        assert "e3" in log


def test_a_tombstone_only_tail_does_not_stall_a_consumer(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d) as log:
        log.append([("k", orjson.dumps({"userId": "a"}))])
        log.append([(f"x{i}", orjson.dumps({"userId": "gone"})) for i in range(5)])
        log.rewrite(_erase_user("gone"))
        c = log.consumer("w", batch=2)
        assert [r.message_id for r in c.poll()] == ["k"]
        assert c.poll() == [] and c.position == log.end_offset
        log.append([("z", b"{}")])
        assert [r.message_id for r in c.poll(timeout=1)] == ["z"]


def test_rewrite_while_appending_loses_nothing(tmp_path: Path) -> None:
    d = tmp_path / "events"
    acked: list[str] = []
    stop = threading.Event()

    with EventLog(d, segment_bytes=8192) as log:

        def writer() -> None:
            i = 0
            while not stop.is_set():
                mid = f"w{i}"
                log.append([(mid, orjson.dumps({"userId": "keep" if i % 3 else "drop"}))])
                acked.append(mid)
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        for _ in range(5):
            time.sleep(0.05)
            log.rewrite(_erase_user("drop"), needles=[b"drop"])
        stop.set()
        t.join()
        log.rewrite(_erase_user("drop"))
        kept = [r.message_id for r in log.read(0, 10**6)]
        assert kept == [m for m in acked if int(m[1:]) % 3]
