"""The event log: framing, torn-tail recovery, idempotency, group commit, consumers."""

from __future__ import annotations

import asyncio
import random
import threading
from pathlib import Path

import pytest

from opsloop.collect.log import (
    EventLog,
    LogCorruptError,
    Record,
    decode,
    encode,
    scan,
)


def _items(n: int, prefix: str = "m") -> list[tuple[str, bytes]]:
    return [(f"{prefix}{i}", f'{{"i":{i}}}'.encode()) for i in range(n)]


def _all(log: EventLog) -> list[Record]:
    return log.read(0, 10**9)


def test_frame_round_trip_and_damage_is_detected() -> None:
    frame = encode("abc", b"payload")
    assert decode(frame, 0) == ("abc", b"payload", len(frame))
    for cut in range(len(frame)):
        assert decode(frame[:cut], 0) is None
    flipped = bytearray(frame)
    flipped[-1] ^= 0xFF
    assert decode(bytes(flipped), 0) is None
    assert decode(b"\0" * 64, 0) is None  # zero fill after a crash is not a record
    with pytest.raises(ValueError):
        encode("", b"x")


def test_append_read_and_reopen(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        res = log.append(_items(10))
        assert res.offsets == tuple(range(10))
        assert [r.message_id for r in log.read(3, 4)] == ["m3", "m4", "m5", "m6"]
    with EventLog(tmp_path) as log:
        assert log.end_offset == 10
        assert [r.payload for r in _all(log)] == [p for _, p in _items(10)]


@pytest.mark.parametrize("seed", range(8))
def test_torn_tail_is_truncated_and_complete_records_survive(tmp_path: Path, seed: int) -> None:
    with EventLog(tmp_path) as log:
        for i in range(5):
            log.append(_items(20, prefix=f"b{i}-"))
    seg = next(tmp_path.glob("*.log"))
    data = seg.read_bytes()
    records, end = scan(data)
    assert end == len(data) and len(records) == 100
    cut = random.Random(seed).randrange(1, len(data))
    seg.write_bytes(data[:cut])
    whole = [mid for i, (mid, _) in enumerate(records) if _end(records, i, len(data)) <= cut]
    with EventLog(tmp_path) as log:
        got = [r.message_id for r in _all(log)]
        assert got == whole
        kept = _end(records, len(whole) - 1, len(data)) if whole else 0
        assert log.truncated_bytes == cut - kept
        # re-sending everything stores exactly the missing ones, nothing twice
        for i in range(5):
            log.append(_items(20, prefix=f"b{i}-"))
        got = [r.message_id for r in _all(log)]
        assert len(got) == 100 and len(set(got)) == 100


def _end(records: list[tuple[str, int]], i: int, total: int) -> int:
    return records[i + 1][1] if i + 1 < len(records) else total


def test_garbage_tail_is_cut(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        log.append(_items(3))
    seg = next(tmp_path.glob("*.log"))
    with seg.open("ab") as f:
        f.write(b"\0" * 100 + b"\xff" * 7)
    with EventLog(tmp_path) as log:
        assert log.truncated_bytes == 107
        assert len(_all(log)) == 3
        log.append([("new", b"x")])
    with EventLog(tmp_path) as log:
        assert [r.message_id for r in _all(log)] == ["m0", "m1", "m2", "new"]


def test_damage_in_a_sealed_segment_is_an_error(tmp_path: Path) -> None:
    with EventLog(tmp_path, segment_bytes=200) as log:
        for i in range(10):
            log.append(_items(3, prefix=f"s{i}-"))
    segs = sorted(tmp_path.glob("*.log"))
    assert len(segs) > 2
    data = bytearray(segs[0].read_bytes())
    data[10] ^= 0xFF
    segs[0].write_bytes(bytes(data))
    # Open trusts the sealed segment's checkpoint (it does not decode sealed segments);
    # the damage is refused when the segment is read, never skipped silently.
    with EventLog(tmp_path) as log, pytest.raises(LogCorruptError):
        log.read(0, 10)
    # Without its checkpoint the segment is decoded on open, and the open refuses.
    segs[0].with_suffix(".ids").unlink()
    with pytest.raises(LogCorruptError):
        EventLog(tmp_path)


def test_segments_roll_and_read_across_them(tmp_path: Path) -> None:
    with EventLog(tmp_path, segment_bytes=300) as log:
        for i in range(20):
            log.append(_items(5, prefix=f"r{i}-"))
        assert len(list(tmp_path.glob("*.log"))) > 3
        recs = _all(log)
        assert [r.offset for r in recs] == list(range(100))
        assert [r.offset for r in log.read(37, 20)] == list(range(37, 57))
    with EventLog(tmp_path, segment_bytes=300) as log:
        assert log.end_offset == 100
        assert [r.offset for r in log.read(50, 1000)] == list(range(50, 100))


def test_idempotency_within_a_call_and_across_reopen(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        res = log.append([("a", b"1"), ("b", b"2"), ("a", b"3")])
        assert res.stored == 2 and res.duplicates == ("a",)
        assert log.append([("a", b"9")]).duplicates == ("a",)
    with EventLog(tmp_path) as log:
        res = log.append([("a", b"again"), ("c", b"4")])
        assert res.duplicates == ("a",) and res.stored == 1
        assert [(r.message_id, r.payload) for r in _all(log)] == [
            ("a", b"1"),
            ("b", b"2"),
            ("c", b"4"),
        ]


def test_group_commit_under_concurrency(tmp_path: Path) -> None:
    threads, per_thread = 32, 50
    acked: list[list[str]] = [[] for _ in range(threads)]
    with EventLog(tmp_path) as log:

        def worker(t: int) -> None:
            rng = random.Random(t)
            for i in range(per_thread):
                mid = f"t{t}-{i}"
                # every fifth message is a retry of one from another thread's space
                items = [(mid, mid.encode())]
                if i % 5 == 0:
                    other = f"t{rng.randrange(threads)}-{rng.randrange(per_thread)}"
                    items.append((other, other.encode()))
                log.append(items)
                acked[t].append(mid)

        pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        batches = log.batches
    total = threads * per_thread
    assert batches < total  # appends shared fsyncs
    with EventLog(tmp_path) as log:
        got = [r.message_id for r in _all(log)]
    assert len(got) == len(set(got)) == total
    assert set(got) == {m for ms in acked for m in ms}


def test_duplicate_of_inflight_waits_for_the_original(tmp_path: Path) -> None:
    log = EventLog(tmp_path, linger_s=0.05)
    try:
        first = log.submit([("x", b"1")])
        second = log.submit([("x", b"1")])
        res = second.result(5)
        assert res.duplicates == ("x",)
        assert first.done()  # the duplicate was not acked before the original
    finally:
        log.close()


def test_consumer_offsets_persist_and_redeliver_uncommitted(tmp_path: Path) -> None:
    with EventLog(tmp_path) as log:
        log.append(_items(10))
        c = log.consumer("wh", batch=4)
        assert [r.offset for r in c.poll()] == [0, 1, 2, 3]
        c.commit()
        assert [r.offset for r in c.poll()] == [4, 5, 6, 7]  # polled, not committed
    with EventLog(tmp_path) as log:
        c = log.consumer("wh", batch=100)
        assert [r.offset for r in c.poll()] == list(range(4, 10))
        c.commit()
        assert c.poll() == []
        assert log.committed("wh") == 10


def test_subscribe_delivers_everything_and_retries_a_failing_handler(tmp_path: Path) -> None:
    seen: list[str] = []
    fail = [True]
    done = threading.Event()

    def handler(records: list[Record]) -> None:
        if fail[0]:
            fail[0] = False
            raise RuntimeError("flaky sink")
        seen.extend(r.message_id for r in records)
        if len(seen) >= 20:
            done.set()

    with EventLog(tmp_path) as log:
        sub = log.subscribe("s", handler, batch=7)
        log.append(_items(10))
        log.append(_items(10, prefix="n"))
        assert done.wait(10)
        sub.stop()
        assert sub.errors == 1
        assert seen == [r.message_id for r in _all(log)]
        assert log.committed("s") == 20


def test_async_append_and_iterate(tmp_path: Path) -> None:
    async def main() -> list[str]:
        with EventLog(tmp_path) as log:
            results = await asyncio.gather(
                *(log.append_async([(f"a{i}", b"x")]) for i in range(50))
            )
            assert sum(r.stored for r in results) == 50
            out: list[str] = []
            async for batch in log.consumer("it", batch=20):
                out.extend(r.message_id for r in batch)
                if len(out) == 50:
                    break
            return out

    assert sorted(asyncio.run(main())) == sorted(f"a{i}" for i in range(50))
