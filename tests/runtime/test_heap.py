"""calm_gc freezes the start-up heap once per process and raises the young threshold."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from opsloop.runtime import heap


@pytest.fixture
def restore_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    done = list(heap._done)
    heap._done.clear()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    heap._done[:] = done


def test_freezes_once_and_raises_gen0(restore_gc: None) -> None:
    assert heap.calm_gc(20_000) is True
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == 20_000
    assert heap.calm_gc(30_000) is False  # second app in the same process: no-op
    assert gc.get_threshold()[0] == 20_000


def test_zero_turns_it_off(restore_gc: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSLOOP_GC_GEN0", "0")
    before = gc.get_threshold()
    assert heap.calm_gc() is False
    assert gc.get_threshold() == before


def test_mmap_threshold_is_pinned_on_glibc() -> None:
    import platform

    pinned = heap.pin_mmap_threshold()
    if platform.libc_ver()[0] == "glibc":
        assert pinned is True  # mallopt found and accepted the threshold


def test_gil_switch_interval_is_set_and_can_be_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    before = sys.getswitchinterval()
    try:
        assert heap.shorten_gil_switch() is True  # default 0.5 ms
        assert sys.getswitchinterval() == pytest.approx(0.0005)
        monkeypatch.setenv("OPSLOOP_GIL_SWITCH_MS", "2")
        assert heap.shorten_gil_switch() is True
        assert sys.getswitchinterval() == pytest.approx(0.002)
        sys.setswitchinterval(before)
        monkeypatch.setenv("OPSLOOP_GIL_SWITCH_MS", "0")
        assert heap.shorten_gil_switch() is False
        assert sys.getswitchinterval() == before
        monkeypatch.setenv("OPSLOOP_GIL_SWITCH_MS", "-1")
        with pytest.raises(ValueError, match="gil_switch_ms"):
            heap.shorten_gil_switch()
    finally:
        sys.setswitchinterval(before)
