"""The warehouse flusher runs at a lower OS priority than the acknowledging path."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from opsloop.collect.flush import Flusher, lower_thread_priority
from opsloop.collect.log import EventLog
from opsloop.store import Store
from opsloop.warehouse import Warehouse


def _nice_of(tid: int) -> int:
    stat = Path(f"/proc/self/task/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])  # field 19: nice


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_only_the_calling_thread_is_reniced() -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[int] = []

    def work() -> None:
        lower_thread_priority(3)
        seen.append(_nice_of(threading.get_native_id()))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen == [min(19, base + 3)]
    assert _nice_of(threading.get_native_id()) == base  # the caller is untouched


def test_flusher_thread_runs_niced_and_still_flushes(tmp_path: Path) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    wh = Warehouse.open(str(tmp_path / "w.duckdb"))
    with EventLog(tmp_path / "events") as log:
        flusher = Flusher(log, store=store, warehouse=wh, nice=4)
        try:
            log.append(
                [
                    (
                        "n1",
                        b'{"type":"track","event":"e","messageId":"n1","userId":"1",'
                        b'"timestamp":"2026-11-20T10:00:00Z"}',
                    )
                ]
            )
            deadline = time.monotonic() + 20
            while flusher.inserted < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert flusher.inserted == 1
            tid = flusher.subscription._thread.native_id
            assert tid is not None and _nice_of(tid) == min(19, base + 4)
        finally:
            flusher.stop()
    wh.close()
    store.close()
