"""The background jobs ``opsloop worker`` knows, each built from the open runtime.

Shared jobs are safe in any number of workers because their work is claimed through the
store (leases, ``FOR UPDATE SKIP LOCKED``); singletons run in the one worker holding
their leadership lock (see :mod:`opsloop.runtime.singleton`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

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


# name → (what it does, singleton?, factory)
JOB_FACTORIES: dict[str, tuple[str, bool, Callable[[Runtime], Job]]] = {
    "reach-dispatch": (
        "claim and send outbox messages (HOME/reach.json channels)",
        False,
        _reach_dispatch,
    ),
}

__all__ = ["JOB_FACTORIES", "Runtime", "open_runtime"]
