"""``opsloop worker``: one loop running background jobs, any number of processes.

A job is a function that does one bounded pass of work (claim a batch of outbox rows,
fire due journey timers, refresh due segments …) and returns how much it did. Jobs
whose work is shared safely through the store (leases, ``FOR UPDATE SKIP LOCKED``) run
in every worker; jobs that must run once at a time (schedulers) are *singletons* and run
only in the worker that holds their leadership lock. A worker that dies loses nothing:
its leases expire and its locks are released by the server or the kernel.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType

from opsloop.logging import get_logger
from opsloop.runtime.singleton import Leadership

log = get_logger("opsloop.worker")

JobFn = Callable[[datetime], int]


@dataclass(frozen=True)
class Job:
    """A named pass of work; ``every`` seconds between passes when it found nothing."""

    name: str
    run: JobFn
    every: float = 1.0
    singleton: bool = False


@dataclass
class JobState:
    next_at: float = 0.0
    passes: int = 0
    done: int = 0
    errors: int = 0
    leading: bool = False


@dataclass
class Worker:
    """Runs ``jobs`` until :meth:`stop` (SIGTERM/SIGINT) — a pass is never cut short."""

    jobs: Sequence[Job]
    make_leadership: Callable[[str], Leadership]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    idle_sleep: float = 0.05
    states: dict[str, JobState] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _leaders: dict[str, Leadership] = field(default_factory=dict)

    def stop(self, *_: object) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        def _handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stopping", signal=signum)
            self.stop()

        signal.signal(signal.SIGTERM, _handler)
        signal.signal(signal.SIGINT, _handler)

    def run_once(self) -> int:
        """One pass over every due job; returns the work done (0 = idle)."""
        total = 0
        for job in self.jobs:
            state = self.states.setdefault(job.name, JobState())
            if time.monotonic() < state.next_at:
                continue
            if job.singleton and not self._lead(job.name, state):
                state.next_at = time.monotonic() + max(job.every, 1.0)
                continue
            try:
                done = job.run(self.clock())
            except Exception as exc:  # one failing job must not stop the others
                state.errors += 1
                log.error("job failed", job=job.name, error=f"{type(exc).__name__}: {exc}")
                done = 0
            state.passes += 1
            state.done += done
            total += done
            # Busy jobs go again at once; idle ones wait their interval.
            state.next_at = time.monotonic() + (0.0 if done else job.every)
        return total

    def run(self, *, max_seconds: float | None = None) -> None:
        deadline = None if max_seconds is None else time.monotonic() + max_seconds
        log.info("worker started", jobs=[j.name for j in self.jobs])
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if self.run_once() == 0:
                    self._stop.wait(self.idle_sleep)
        finally:
            for leader in self._leaders.values():
                leader.release()
            log.info("worker stopped")

    def _lead(self, name: str, state: JobState) -> bool:
        leader = self._leaders.get(name)
        if leader is None:
            leader = self._leaders[name] = self.make_leadership(name)
        state.leading = leader.try_acquire()
        return state.leading
