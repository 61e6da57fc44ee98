"""Readiness: can this process serve right now? Each dependency checked, with timings.

Liveness (``/api/v1/health``) says the process is up; readiness says whether a load
balancer should send it traffic: the operational store answers and is migrated, the
warehouse answers, Redis answers when configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

from opsloop.settings import Settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    ms: float
    detail: str = ""


def _timed(name: str, probe: Callable[[], str]) -> Check:
    start = time.perf_counter()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # a readiness probe reports every failure, never raises
        detail, ok = f"{type(exc).__name__}: {exc}"[:300], False
    return Check(name, ok, round((time.perf_counter() - start) * 1000, 2), detail)


def check_dependencies(settings: Settings, store: Store, warehouse: Warehouse) -> list[Check]:
    """Probe every dependency this process needs; never raises."""
    from opsloop.runtime.profile import pending_migrations

    def _store() -> str:
        with store.engine.connect() as conn:
            conn.execute(text("select 1"))
        missing = pending_migrations(settings.database_url, store.engine)
        if missing:
            raise RuntimeError(f"store behind migrations {', '.join(missing)}")
        return "migrated"

    def _warehouse() -> str:
        return f"{len(warehouse.tables())} tables"

    checks = [_timed("store", _store), _timed("warehouse", _warehouse)]
    if settings.redis_url:
        redis_url = settings.redis_url

        def _redis() -> str:
            import redis

            client = redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
            try:
                client.ping()
            finally:
                client.close()
            return "pong"

        checks.append(_timed("redis", _redis))
    return checks
