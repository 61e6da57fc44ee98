"""The collection service: authenticate, validate, append durably, count.

The HTTP router is a thin shell over :class:`Collector`: it passes raw bytes, headers
and the receive time, and gets back what to store or a :class:`BadEventError` /
:class:`UnauthorizedError`. Nothing is appended unless the whole request is valid.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from opsloop.access.principal import Principal
from opsloop.collect import sensors
from opsloop.collect.consent import ConsentRegistry
from opsloop.collect.log import AppendResult, EventStream
from opsloop.collect.segment import BadEventError, Limits, decode_body, parse_request
from opsloop.collect.sources import KeyResolver, SourceInfo
from opsloop.collect.stream import open_stream, release
from opsloop.errors import OpsloopError
from opsloop.runtime.metrics import EVENTS_INGESTED
from opsloop.store import Store

Items = list[tuple[str, bytes]]


class UnauthorizedError(OpsloopError):
    """No write key, or one that is unknown or revoked."""

    status_code = 401


@dataclass
class Stats:
    """Counters the stats endpoint exposes (since the process started)."""

    accepted: int = 0
    duplicates: int = 0
    requests: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    unauthorized: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reject(self, reason: str) -> None:
        with self.lock:
            self.rejected[reason] += 1

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "accepted": self.accepted,
                "duplicates": self.duplicates,
                "unauthorized": self.unauthorized,
                "rejected": dict(self.rejected),
                "rejected_total": sum(self.rejected.values()),
            }


class Collector:
    """One per server process: the log, the key resolver, limits and counters."""

    def __init__(
        self,
        log: EventStream,
        resolver: KeyResolver,
        limits: Limits | None = None,
        consent: ConsentRegistry | None = None,
    ) -> None:
        self.log = log
        self.resolver = resolver
        self.limits = limits or Limits()
        self.stats = Stats()
        self.consent = consent or ConsentRegistry(resolver.store)

    @classmethod
    def open(
        cls,
        home: Path,
        store: Store,
        limits: Limits | None = None,
        *,
        redis_url: str | None = None,
    ) -> Collector:
        """The embedded log in ``home/events`` (one process), or the Redis stream when
        ``redis_url`` is set (any number of processes)."""
        return cls(open_stream(home, redis_url, shared=True), KeyResolver(store), limits)

    def close(self) -> None:
        release(self.log)

    # -- Segment ----------------------------------------------------------------------------
    def prepare_segment(
        self,
        kind: str,
        raw: bytes,
        *,
        content_encoding: str | None,
        write_key: str | None,
        received_at: datetime,
    ) -> Items:
        """Authenticate and validate one Segment call; the records to append."""
        with self.stats.lock:
            self.stats.requests += 1
        try:
            source = self._source(write_key) if write_key else None
            body = decode_body(raw, content_encoding, self.limits)
            if source is None:
                key = body.get("writeKey") if isinstance(body, dict) else None
                source = self._source(key if isinstance(key, str) else None)
            messages = parse_request(
                kind,
                body,
                received_at=received_at,
                source_id=source.source_id,
                limits=self.limits,
            )
        except BadEventError as exc:
            self.stats.reject(exc.reason)
            raise
        return self._items(messages, source)

    def _items(self, messages: list[dict[str, Any]], source: SourceInfo) -> Items:
        """Apply tracking consent (withdrawn → dropped or anonymised), then encode."""
        actor = Principal(id=f"source:{source.name}", kind="source")
        kept = self.consent.filter(messages, actor=actor)
        return [(m["messageId"], orjson.dumps(m)) for m in kept]

    # -- Sensors Analytics ------------------------------------------------------------------
    def prepare_sensors(
        self, project: str, form: dict[str, str], *, received_at: datetime
    ) -> Items:
        """Validate one Sensors Analytics post (``project`` names an active source)."""
        with self.stats.lock:
            self.stats.requests += 1
        source = self.resolver.by_name(project) if project else None
        if source is None or source.kind != "sensors":
            with self.stats.lock:
                self.stats.unauthorized += 1
            raise UnauthorizedError(f"no active sensors source named {project!r}", where="project")
        try:
            messages = sensors.parse_form(
                form, received_at=received_at, source_id=source.source_id, limits=self.limits
            )
        except BadEventError as exc:
            self.stats.reject(exc.reason)
            raise
        return self._items(messages, source)

    async def store(self, items: Sequence[tuple[str, bytes]]) -> AppendResult:
        """Append durably; returns once every record (or its original) is fsync'd."""
        if not items:  # every message was dropped for withdrawn consent
            return AppendResult((), ())
        result = await self.log.append_async(items)
        with self.stats.lock:
            self.stats.accepted += result.stored
            self.stats.duplicates += len(result.duplicates)
        EVENTS_INGESTED.inc(result.stored)  # /metrics, summed over API processes
        return result

    def _source(self, key: str | None) -> SourceInfo:
        found = self.resolver.by_key(key) if key else None
        if found is None:
            with self.stats.lock:
                self.stats.unauthorized += 1
            raise UnauthorizedError("missing, unknown or revoked write key", where="Authorization")
        return found
