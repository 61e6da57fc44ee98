"""Prometheus metrics: what the process did (counters, latencies) and what the stores hold.

Two kinds, because a metric must stay right when a second process starts:
- **process metrics** (request latencies, events ingested) are prometheus_client
  counters/histograms; under ``serve --workers N`` they are written to
  ``PROMETHEUS_MULTIPROC_DIR`` and summed over the workers at scrape time;
- **store metrics** (queue depths, recent sends and suppressions, journey timers due)
  are read from the operational store when scraped, so every process reports the same
  shared truth instead of its own slice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from opsloop.logging import get_logger
from opsloop.store import Store

log = get_logger("opsloop.metrics")

__all__ = [
    "CONTENT_TYPE_LATEST",
    "EVENTS_INGESTED",
    "REQUEST_LATENCY",
    "MetricsMiddleware",
    "StoreCollector",
    "render",
]

REQUEST_LATENCY = Histogram(
    "opsloop_http_request_duration_seconds",
    "API request latency by route template",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_INGESTED = Counter(
    "opsloop_events_ingested_total", "Tracking events acknowledged (durable, new message ids)"
)
# Tracking calls skip routing (collect/asgi.py): label them by their fixed paths.
TRACKING_PATHS = frozenset(
    [f"/v1/{k}" for k in ("track", "identify", "page", "screen", "alias", "group", "batch")]
    + ["/sa"]
)

# Windows over the store: recent activity, without scanning whole history tables.
RECENT_SECONDS = 300

_STORE_QUERIES: dict[str, tuple[str, str, list[str]]] = {
    "opsloop_outbox_messages": (
        "Reach outbox rows by channel and status (pending/retry = queue depth)",
        "select channel, status, count(*) from reach_outbox group by channel, status",
        ["channel", "status"],
    ),
    "opsloop_contacts_recent": (
        f"Contact history rows of the last {RECENT_SECONDS} s by channel and kind "
        "(sent, delivered, suppressed, …): rate = value / window",
        "select channel, kind, count(*) from reach_contacts where at >= :since "
        "group by channel, kind",
        ["channel", "kind"],
    ),
    "opsloop_journey_timers_due": (
        "Journey customers waiting on a timer that is already due (stuck if it grows)",
        "select count(*) from strategy_states where status = 'waiting' and due_at <= :now",
        [],
    ),
}


class StoreCollector(Collector):
    """Reads shared queue depths and recent activity from the operational store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        from datetime import UTC, datetime, timedelta

        now = datetime.now(UTC)
        params = {"now": now, "since": now - timedelta(seconds=RECENT_SECONDS)}
        for name, (doc, sql, labels) in _STORE_QUERIES.items():
            family = GaugeMetricFamily(name, doc, labels=labels)
            try:
                with self.store.engine.connect() as conn:
                    rows = conn.execute(text(sql), params).all()
            except Exception as exc:  # a table a center has not created yet: skip the family
                log.warning("metric skipped", metric=name, error=type(exc).__name__)
                continue
            for row in rows:
                *values, count = row
                family.add_metric([str(v) for v in values], float(count))
            yield family


def render(store: Store | None) -> bytes:
    """The exposition text: process metrics (summed over workers) plus store metrics."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:  # only opsloop's families, not the interpreter's GC internals
        registry.register(REQUEST_LATENCY)
        registry.register(EVENTS_INGESTED)
    if store is not None:
        registry.register(StoreCollector(store))
    return generate_latest(registry)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _route_template(scope: Scope) -> str:
    """The matched route's full template (prefix included), or ``unmatched``.

    FastAPI ≥ 0.16x routes included routers lazily: ``scope["route"]`` holds the route
    without its include prefix, and the effective (prefixed) one sits in its scope entry.
    """
    effective = scope.get("fastapi", {}).get("effective_route_context")
    path = getattr(effective, "path", None) or getattr(scope.get("route"), "path", None)
    if not path and scope.get("path") in TRACKING_PATHS:
        path = scope["path"]
    return str(path) if path else "unmatched"


class MetricsMiddleware:
    """Pure ASGI: time every HTTP request, labelled by its route template (bounded
    cardinality: ``/api/v1/customers/{customer_id}``, never the id itself)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            template = _route_template(scope)
            REQUEST_LATENCY.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - start
            )
