"""Background jobs inside ``opsloop serve`` for the embedded profile.

Embedded, one process owns the DuckDB file and the event log, so a separate
``opsloop worker`` could not open them while the server runs; the server therefore runs
the scheduler jobs itself, in one thread, over its own open stores. (The journey runner
has its own switch, ``OPSLOOP_JOURNEY_RUNNER=1``; the dispatcher needs HOME/reach.json.)
In production the same jobs run in ``opsloop worker`` processes instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from opsloop.runtime.jobs import JOB_FACTORIES, Runtime
from opsloop.runtime.singleton import FileLeadership
from opsloop.runtime.worker import Worker
from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

EMBEDDED_JOBS = (
    "segment-refresh",
    "tag-refresh",
    "report-refresh",
    "alert-check",
    "benefit-expiry",
)


@dataclass
class Background:
    worker: Worker
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        self.worker.stop()
        self.thread.join(timeout)


def build_worker(settings: Settings, store: Store, warehouse: Warehouse) -> Worker:
    """A worker over already-open stores (they stay open: the server closes them)."""
    runtime = Runtime(settings, store, warehouse)
    jobs = [JOB_FACTORIES[name][2](runtime) for name in EMBEDDED_JOBS]
    return Worker(jobs, make_leadership=lambda name: FileLeadership(settings.home, name))


def start_background(settings: Settings, store: Store, warehouse: Warehouse) -> Background:
    worker = build_worker(settings, store, warehouse)
    thread = threading.Thread(target=worker.run, name="opsloop-background", daemon=True)
    thread.start()
    return Background(worker, thread)
