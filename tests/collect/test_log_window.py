"""The log's idempotency window and checkpoint: bounded id memory, no full re-read on open."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.collect import log as logmod
from opsloop.collect.log import EventLog


def _fill(log: EventLog, prefix: str, n: int) -> None:
    for i in range(0, n, 10):
        log.append([(f"{prefix}{j}", b"x" * 200) for j in range(i, min(n, i + 10))])


def _segments(d: Path) -> list[Path]:
    return sorted(d.glob("*.log"))


def test_open_decodes_only_the_active_segment_and_still_dedupes(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096) as log:
        _fill(log, "a", 200)
        end = log.end_offset
    assert len(_segments(d)) >= 5
    assert len(list(d.glob("*.ids"))) == len(_segments(d)) - 1  # every sealed one
    with EventLog(d, segment_bytes=4096) as log:
        assert log.segments_scanned == 1
        assert log.end_offset == end
        # an id from the first (sealed, not decoded) segment is still a duplicate
        result = log.append([("a0", b"again"), ("a199", b"again"), ("new", b"n")])
        assert result.duplicates == ("a0", "a199") and result.stored == 1
        assert [r.message_id for r in log.read(0, 3)] == ["a0", "a1", "a2"]


def test_a_damaged_or_missing_sidecar_is_rebuilt_by_scanning(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096) as log:
        _fill(log, "b", 120)
    sidecars = sorted(d.glob("*.ids"))
    sidecars[0].write_bytes(sidecars[0].read_bytes()[:-3])  # torn
    sidecars[1].unlink()
    with EventLog(d, segment_bytes=4096) as log:
        assert log.segments_scanned == 3  # two repaired + the active one
        assert log.append([("b0", b"x")]).duplicates == ("b0",)
    assert len(list(d.glob("*.ids"))) == len(sidecars)  # rewritten
    with EventLog(d, segment_bytes=4096) as log:
        assert log.segments_scanned == 1


def test_ids_are_forgotten_past_max_ids_whole_segments_at_a_time(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096, max_ids=50) as log:
        _fill(log, "c", 300)
        log.settle()  # sealed segments' ids are indexed (and old ones dropped) in a thread
        # bounded: at most max_ids plus one sealed and the active segment's ids
        per_segment = max(s.count for s in log._segments)
        assert log.remembered_ids <= 50 + 2 * per_segment
        assert "c299" in log and "c0" not in log
        # a forgotten id is stored again (the warehouse still dedupes on message_id)
        assert log.append([("c0", b"late retry")]).stored == 1
        assert log.append([("c299", b"recent retry")]).duplicates == ("c299",)


def test_ids_outside_the_window_are_not_loaded_on_open(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096) as log:
        _fill(log, "d", 150)
    old = time.time() - 8 * 24 * 3600
    for sidecar in d.glob("*.ids"):  # pretend the sealed segments are 8 days old
        index = logmod._read_index(sidecar.with_suffix(".log"))
        assert index is not None
        seg = sidecar.with_suffix(".log")
        logmod._write_index(seg, logmod._Index(index.count, index.size, old, index.ids))
    with EventLog(d, segment_bytes=4096) as log:
        assert "d0" not in log  # sealed 8 days ago: outside the 7-day window
        assert "d149" in log  # in the active segment
        assert log.remembered_ids < 150


def test_window_zero_forgets_every_sealed_segment(tmp_path: Path) -> None:
    d = tmp_path / "events"
    with EventLog(d, segment_bytes=4096, dedupe_window_s=0.0) as log:
        _fill(log, "e", 150)
        log.settle()
        active = log.end_offset - log._segments[-1].base
        assert 0 < active < 150
        # only the active segment and the one sealed this very instant remain
        assert log.remembered_ids <= active + max(s.count for s in log._segments)
        assert "e0" not in log and "e149" in log


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.text(min_size=1, max_size=12), max_size=40), min_size=1, max_size=6),
    st.lists(st.text(min_size=1, max_size=12), max_size=40),
)
def test_id_index_behaves_like_a_set_of_segments(
    segments: list[list[str]], probes: list[str]
) -> None:
    """Oracle: a Python set of the ids of the segments still remembered."""
    kept = [list(dict.fromkeys(segments[0]))]  # a segment's ids are unique (deduped)
    index = logmod._IdIndex.build(kept[0])
    for seg in segments[1:]:
        seg = [m for m in dict.fromkeys(seg) if not any(m in k for k in kept)]
        index = index.add(seg)
        kept.append(seg)
    while len(kept) > 2:  # forget the oldest segments
        index = index.remove(kept.pop(0))
    remembered = {m for k in kept for m in k}
    ask = probes + sorted(remembered)
    assert index.contains(ask) == [m in remembered for m in ask]
    assert len(index) == len(remembered)
