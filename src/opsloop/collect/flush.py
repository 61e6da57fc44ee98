"""Moving acknowledged events from the log into the warehouse ``events`` table.

The flusher is a log consumer: it takes up to a few thousand records, records the
identity links they assert, resolves each event's customer, and appends the batch;
only then is the consumer offset committed. A crash anywhere in between redelivers
the batch, and the append is idempotent, so the warehouse ends up with each
acknowledged event exactly once: for the embedded log by the log position stored in
the same DuckDB transaction as the rows (constant cost per batch), for Redis Streams
(several processes may read one group) by an anti-join on ``message_id``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from opsloop.collect import decode, identity
from opsloop.collect.consent import erased_ids, who
from opsloop.collect.log import EventLog, EventStream, Record, Subscription
from opsloop.collect.rows import EVENT_NAMES, platform_of, to_rows
from opsloop.store import Store
from opsloop.warehouse import Warehouse
from opsloop.warehouse.append import append, append_from_stream

__all__ = ["CONSUMER", "EVENT_NAMES", "Flusher", "flush_records", "platform_of", "to_rows"]

CONSUMER = "warehouse"

# Below this many records a batch is decoded by the Python rules: the bulk decode costs
# ~15 ms per batch whatever its size (two DuckDB statements, Arrow registration, part of
# it under the GIL), the Python rules ~5 µs a record — so a real-time trickle of small
# batches kept the event loop waiting (journey ack → outbox p50 10 → 22 ms at 1,000
# events/s). Full batches under load (5,000) take the bulk path. Both give the same rows
# (tests/collect/test_decode_oracle.py).
BULK_MIN_RECORDS = 2000


def flush_records(
    records: Sequence[Record],
    *,
    store: Store,
    warehouse: Warehouse,
    dataset: str | None = None,
    erased: frozenset[str] | set[str] = frozenset(),
    position_of: str | None = None,
    bulk_min: int = BULK_MIN_RECORDS,
) -> int:
    """Write one batch of log records into the warehouse; returns rows newly inserted.

    Records of ``erased`` user or anonymous ids are skipped (a redelivery after an
    erasure must not bring the events back). With ``position_of`` (a consumer name) on
    a DuckDB warehouse, exactly once comes from the stream position stored with the
    rows (:func:`append_from_stream`: for the embedded log, one reader, ids unique at
    acknowledgement); otherwise from an anti-join on ``message_id``.

    The payloads are decoded in bulk inside DuckDB (:mod:`opsloop.collect.decode`),
    with the GIL released; Python does the identity links and any row the SQL hands
    back, for batches of at least ``bulk_min`` records (smaller ones: the Python rules).
    The rows are those :func:`to_rows` makes from the decoded messages."""
    if not records:
        return 0
    found = decode.scan(records, erased) if len(records) >= bulk_min else None
    if found is not None and found.bulk:
        offsets = found.offsets
        links = _links(store, decode.asserted_links(found), decode.lookup_ids(found))
        rows = decode.rows(found, records, links).drop_columns(["off"])
    else:  # a small batch, or an identity field that is not a string: the Python rules
        decoded = [(r.offset, orjson.loads(r.payload)) for r in records]
        if erased:
            decoded = [(o, m) for o, m in decoded if not (_ids_of(m) & erased)]
        messages = [m for _, m in decoded]
        offsets = [o for o, _ in decoded]
        anon = [str(m["anonymousId"]) for m in messages if m.get("anonymousId")]
        links = _links(store, identity.links_in(messages), anon)
        rows = to_rows(messages, links)
    by_position = position_of is not None and warehouse.dialect == "duckdb"
    if not offsets and not by_position:
        return 0
    if position_of is not None and by_position:
        return append_from_stream(
            warehouse,
            "events",
            rows,
            consumer=position_of,
            offsets=offsets,
            next_offset=records[-1].offset + 1,
            dataset=dataset,
        )
    return append(warehouse, "events", rows, dataset)


def _ids_of(message: Mapping[str, Any]) -> set[str]:
    """The message's user and anonymous ids that are set (what an erasure matches)."""
    return {x for x in who(message) if x is not None}


def _links(store: Store, asserted: list[identity.Link], anonymous_ids: list[str]) -> dict[str, str]:
    """Save the asserted links that are new (first link wins) and return the links of
    ``anonymous_ids`` and of the asserted ones, as the store has them now."""
    links = identity.load_links(store, anonymous_ids + [x.anonymous_id for x in asserted])
    new_links = [x for x in asserted if x.anonymous_id not in links]  # first link wins
    if new_links:
        identity.save_links(store, new_links)
        # what won (another writer may have linked one first): read those back
        links.update(identity.load_links(store, [x.anonymous_id for x in new_links]))
    return links


class FlushSettings(BaseSettings):
    """``OPSLOOP_COLLECT_FLUSHER_NICE``: the flusher thread's nice increment (0-19)."""

    model_config = SettingsConfigDict(env_prefix="OPSLOOP_COLLECT_", extra="ignore")

    flusher_nice: int = Field(default=10, ge=0, le=19)


def lower_thread_priority(increment: int) -> None:
    """Raise the calling thread's nice value by ``increment`` (Linux: threads are
    scheduled on their own); elsewhere, or if refused, a no-op."""
    if increment <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)


class Flusher:
    """Runs :func:`flush_records` as the ``warehouse`` consumer of the log, in a thread.

    The thread runs at a lower OS priority (``OPSLOOP_COLLECT_FLUSHER_NICE``, default
    10): when the CPU is short, acknowledging events (the HTTP event loop) goes first
    and the warehouse lags, catching up when the load drops; nothing is lost either
    way (the log holds every acknowledged event; ``/api/v1/collect/stats`` shows the
    lag). 0 gives both the same priority."""

    def __init__(
        self,
        log: EventStream,
        *,
        store: Store,
        warehouse: Warehouse,
        dataset: str | None = None,
        batch: int = 5000,
        nice: int | None = None,
    ) -> None:
        self.inserted = 0
        self.last_flush: datetime | None = None
        increment = FlushSettings().flusher_nice if nice is None else nice
        niced: list[bool] = []
        # the embedded log has one reader of this name: exactly once by stored position
        position_of = CONSUMER if isinstance(log, EventLog) else None

        def handle(records: list[Record]) -> None:
            if not niced:
                lower_thread_priority(increment)
                niced.append(True)
            self.inserted += flush_records(
                records,
                store=store,
                warehouse=warehouse,
                dataset=dataset,
                erased=erased_ids(store),
                position_of=position_of,
            )
            self.last_flush = datetime.now(UTC)

        self.subscription: Subscription = log.subscribe(CONSUMER, handle, batch=batch)

    def stop(self) -> None:
        self.subscription.stop()
