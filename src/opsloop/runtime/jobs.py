"""The background jobs ``opsloop worker`` knows, each built from the open runtime.

Shared jobs are safe in any number of workers because their work is claimed through the
store (leases, ``FOR UPDATE SKIP LOCKED``); singletons run in the one worker holding
their leadership lock (see :mod:`opsloop.runtime.singleton`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from opsloop.runtime.worker import Job
from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

REACH_CONFIG_FILE = "reach.json"


@dataclass
class Runtime:
    """What jobs share in one worker process: settings and lazily opened stores."""

    settings: Settings
    store: Store
    _warehouse: Warehouse | None = None
    closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = Warehouse.open(self.settings.warehouse)
        return self._warehouse

    def close(self) -> None:
        for close in reversed(self.closers):
            close()
        if self._warehouse is not None:
            self._warehouse.close()
        self.store.close()


def open_runtime(settings: Settings) -> Runtime:
    from opsloop.runtime.profile import migrates_on_open

    return Runtime(settings, Store.open(settings.database_url, migrate=migrates_on_open(settings)))


def _reach_dispatch(rt: Runtime) -> Job:
    from opsloop.errors import OpsloopError
    from opsloop.reach.config import ReachConfig, build_channels
    from opsloop.reach.dispatch import Dispatcher

    path = rt.settings.home / REACH_CONFIG_FILE
    if not path.exists():
        raise OpsloopError(
            f"no channel configuration at {path}: see docs/reach.md", where="reach-dispatch"
        )
    config = ReachConfig.load(path)
    dispatcher = Dispatcher(
        rt.store,
        build_channels(config, rt.store),
        policy=config.retry,
        lease=timedelta(seconds=config.lease_s),
        batch=config.batch,
        concurrency=config.concurrency,
    )
    rt.closers.append(dispatcher.close)
    return Job("reach-dispatch", lambda _now: dispatcher.run_once(), every=0.2)


def _segment_refresh(rt: Runtime) -> Job:
    from opsloop.insight.segments.materialise import refresh_due

    return Job(
        "segment-refresh",
        lambda now: len(refresh_due(rt.store, rt.warehouse, now=now)),
        every=60,
        singleton=True,
    )


def _tag_refresh(rt: Runtime) -> Job:
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.insight.tags.service import BANK_ZONE, due_tags, run_tags

    def run(now: datetime) -> int:
        names = due_tags(store=rt.store, now=now)
        if not names:
            return 0
        as_of = now.astimezone(BANK_ZONE).date()
        return len(
            run_tags(
                store=rt.store,
                wh=rt.warehouse,
                names=names,
                as_of=as_of,
                principal=LOCAL_OPERATOR,
                retention_days=rt.settings.tag_retention_days,
            )
        )

    return Job("tag-refresh", run, every=60, singleton=True)


def _report_refresh(rt: Runtime) -> Job:
    from opsloop.monitor.dashboards.reports import refresh_due

    return Job(
        "report-refresh",
        lambda now: len(refresh_due(store=rt.store, wh=rt.warehouse, now=now)),
        every=60,
        singleton=True,
    )


def _alert_check(rt: Runtime) -> Job:
    from opsloop.monitor.dashboards.alerts import check_due

    # Alerts look at the last complete day; hourly is often enough and idempotent.
    return Job(
        "alert-check",
        lambda now: len(check_due(store=rt.store, wh=rt.warehouse, now=now)) and 0,
        every=3600,
        singleton=True,
    )


def _benefit_expiry(rt: Runtime) -> Job:
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.activity.service import expire_due

    return Job(
        "benefit-expiry",
        lambda now: expire_due(store=rt.store, now=now, actor=LOCAL_OPERATOR),
        every=60,
        singleton=True,
    )


def _journeys(rt: Runtime) -> Job:
    """The journey runner (stream consumer + timer clock) in the leading worker."""
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.collect.stream import open_stream
    from opsloop.strategy.runner import JourneyRunner

    started: list[JourneyRunner] = []

    def run(_now: datetime) -> int:
        if not started:
            stream = open_stream(rt.settings.home, rt.settings.redis_url)
            runner = JourneyRunner(
                store=rt.store,
                wh=rt.warehouse,
                stream=stream,
                principal=LOCAL_OPERATOR,
                home=rt.settings.home,
                redis_url=rt.settings.redis_url,
            )
            runner.start()
            started.append(runner)
            rt.closers.append(stream.close)
            rt.closers.append(runner.stop)
        return 0  # the runner works in its own threads

    return Job("journeys", run, every=5, singleton=True)


def _journey_ticks(rt: Runtime) -> Job:
    """Due timers, waits and recurring entries of running journeys, shared by workers.

    Each journey is ticked under its own lock, so N workers split the journeys between
    them (the stream subscription stays with the ``journeys`` singleton).
    """
    from datetime import UTC

    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.runtime.singleton import KeyedLocks
    from opsloop.strategy.runner import tick_running_journeys

    locks = KeyedLocks(rt.settings.database_url, rt.settings.home)
    rt.closers.append(locks.close)

    def run(_now: datetime) -> int:
        tick_running_journeys(
            store=rt.store,
            wh=rt.warehouse,
            principal=LOCAL_OPERATOR,
            home=rt.settings.home,
            redis_url=rt.settings.redis_url,
            clock=lambda: datetime.now(UTC),
            locks=locks,
        )
        return 0  # timers are due by the second: one pass a second is enough

    return Job("journey-ticks", run, every=1.0)


# name → (what it does, singleton?, factory)
JOB_FACTORIES: dict[str, tuple[str, bool, Callable[[Runtime], Job]]] = {
    "reach-dispatch": (
        "claim and send outbox messages (HOME/reach.json channels)",
        False,
        _reach_dispatch,
    ),
    "journeys": (
        "run journeys: event triggers, waits, timers, recurring entries",
        True,
        _journeys,
    ),
    "journey-ticks": (
        "tick running journeys (timers, waits, recurring entries), shared between workers",
        False,
        _journey_ticks,
    ),
    "segment-refresh": ("materialise segments whose schedule fired", True, _segment_refresh),
    "tag-refresh": ("compute tags whose schedule fired", True, _tag_refresh),
    "report-refresh": ("refresh saved reports whose schedule fired", True, _report_refresh),
    "alert-check": ("check metric alerts and notify staff through Reach", True, _alert_check),
    "benefit-expiry": ("expire benefit units past their validity", True, _benefit_expiry),
}

__all__ = ["JOB_FACTORIES", "Runtime", "open_runtime"]
