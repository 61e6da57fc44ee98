"""The journey runner: consume the event stream, fire due timers, run recurring entries.

One runner per operational store — two would race for the same timers (harmless for
correctness, every step is keyed, but wasted work) — so it holds a lock for as long as
it runs: ``pg_try_advisory_lock`` on PostgreSQL (a session lock on a connection of its
own, released by the server when the process dies), an ``flock`` on a file next to the
SQLite database otherwise (released by the kernel likewise). A second runner fails at
once with :class:`RunnerBusyError`.

Two threads: the stream subscription (micro-batches through
:class:`opsloop.strategy.realtime.Processor`, committed after each batch: at least
once, and the entry keys make a redelivery enter nobody twice) and the clock (every
``tick_every`` seconds, :func:`opsloop.strategy.service.tick_journey` for each running
journey: due timers, event-wait checks against the warehouse, cron entries).
The clock's work is shared: :func:`tick_running_journeys` ticks a journey only while
holding that journey's lock, so any number of ``opsloop worker --jobs journey-ticks``
processes split the running journeys between them (scale-out) while this runner keeps
the one stream subscription.
:meth:`JourneyRunner.stop` (SIGTERM in ``opsloop journey run``) lets the batch in hand
finish and commit before it returns.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from opsloop.access.principal import Principal
from opsloop.collect.log import EventStream, Record, Subscription
from opsloop.errors import ConflictError
from opsloop.logging import get_logger
from opsloop.runtime.singleton import KeyedLocks
from opsloop.store import Store
from opsloop.strategy import service
from opsloop.strategy.models import JourneyRow
from opsloop.strategy.realtime import Processor
from opsloop.warehouse import Warehouse

log = get_logger("opsloop.strategy.runner")
CONSUMER = "strategy"


class RunnerBusyError(ConflictError):
    """Another journey runner already runs against this store."""


class RunnerLock:
    """The one-runner-per-store lock (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Any = None
        self._fd: int | None = None

    def acquire(self) -> None:
        engine = self.store.engine
        if engine.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(b"opsloop-journey-runner").digest()[:8], "big")
            key -= 1 << 63 if key >= 1 << 63 else 0
            conn = engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            if not got:
                conn.close()
                raise RunnerBusyError("a journey runner already runs on this store", where="lock")
            self._conn = conn
            return
        path = Path(str(engine.url.database) + ".journey-runner.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunnerBusyError(
                f"a journey runner already runs on this store ({path})", where="lock"
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the session lock goes with the connection
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class JourneyRunner:
    """Stream consumer + timer clock for every running journey (see the module docstring)."""

    def __init__(
        self,
        *,
        store: Store,
        wh: Warehouse,
        stream: EventStream,
        principal: Principal,
        home: Path,
        redis_url: str | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        tick_every: float = 1.0,
        batch: int = 1000,
    ) -> None:
        self.store, self.wh, self.stream, self.principal = store, wh, stream, principal
        self.home, self.redis_url, self.batch = home, redis_url, batch
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.tick_every = tick_every
        self.lock = RunnerLock(store)
        self.tick_locks = KeyedLocks(store.engine.url.render_as_string(hide_password=False), home)
        self.batches = 0
        self.errors = 0
        self._stop = threading.Event()
        self._sub: Subscription | None = None
        self._timer: threading.Thread | None = None

    def start(self) -> None:
        self.lock.acquire()
        policy = service.load_policy(self.home)
        ports = service.live_ports(self.redis_url)
        processor = Processor(self.store, self.wh, self.principal, policy, ports, self.clock)

        def handle(records: list[Record]) -> None:
            try:
                processor(records)
            except Exception as exc:
                self.errors += 1
                log.warning("journey micro-batch failed; redelivered", error=repr(exc))
                raise
            self.batches += 1

        self._sub = self.stream.subscribe(CONSUMER, handle, batch=self.batch)
        self._timer = threading.Thread(target=self._clock, name="opsloop-journey-clock")
        self._timer.start()
        log.info("journey runner started")

    def tick_all(self) -> dict[str, Any]:
        """Timers, event-wait checks and cron entries of every running journey, once."""
        return tick_running_journeys(
            store=self.store,
            wh=self.wh,
            principal=self.principal,
            home=self.home,
            redis_url=self.redis_url,
            clock=self.clock,
            locks=self.tick_locks,
        )

    def _clock(self) -> None:
        while not self._stop.wait(self.tick_every):
            try:
                self.tick_all()
            except Exception as exc:  # a bad journey must not stop the others' timers
                self.errors += 1
                log.warning("journey tick failed", error=repr(exc))

    def stop(self) -> None:
        """Finish the batch in hand, commit, stop the clock, release the lock."""
        self._stop.set()
        if self._sub is not None:
            self._sub.stop()
        if self._timer is not None:
            self._timer.join()
        self.lock.release()
        self.tick_locks.close()
        log.info("journey runner stopped", batches=self.batches, errors=self.errors)


def tick_running_journeys(
    *,
    store: Store,
    wh: Warehouse,
    principal: Principal,
    home: Path,
    redis_url: str | None,
    clock: Callable[[], dt.datetime],
    locks: KeyedLocks,
) -> dict[str, Any]:
    """Tick every running journey whose lock this process gets; skip those another has.

    The lock is per journey (advisory lock on PostgreSQL, ``flock`` on SQLite), held for
    one tick and released, so several processes share the journeys; a process killed
    mid-tick loses its lock with its session and the next tick redoes the keyed steps.
    """
    with store.session() as s:
        running = select(JourneyRow.journey_id).where(JourneyRow.status == "running")
        ids = list(s.scalars(running))
    policy = service.load_policy(home)
    out: dict[str, Any] = {}
    for jid in ids:
        name = f"journey-tick-{hashlib.sha256(jid.encode()).hexdigest()[:16]}"
        if not locks.try_acquire(name):
            continue  # another process is ticking it right now
        try:
            out[jid] = service.tick_journey(
                store=store,
                wh=wh,
                principal=principal,
                journey_id=jid,
                now=clock(),
                policy=policy,
                redis_url=redis_url,
            )
        finally:
            locks.release(name)
    return out
