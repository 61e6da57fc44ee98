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
import pyarrow as pa
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from opsloop.collect import identity
from opsloop.collect.consent import erased_ids, who
from opsloop.collect.log import EventLog, EventStream, Record, Subscription
from opsloop.collect.segment import parse_time
from opsloop.store import Store
from opsloop.warehouse import TABLES_BY_NAME, Warehouse
from opsloop.warehouse.append import append, append_from_stream

CONSUMER = "warehouse"
EVENT_NAMES = {
    "page": "$pageview",
    "screen": "$screen",
    "identify": "$identify",
    "alias": "$alias",
    "group": "$group",
}
_PLATFORMS = {
    "ios": "ios",
    "ipados": "ios",
    "iphone os": "ios",
    "android": "android",
    "web": "web",
    "js": "web",
    "miniprogram": "miniprogram",
    "wechat miniprogram": "miniprogram",
}


def platform_of(message: Mapping[str, Any]) -> str | None:
    """ios | android | web | miniprogram from the SDK's context, else None (servers)."""
    ctx = message.get("context") or {}
    candidates: list[Any] = []
    if isinstance(ctx, dict):
        os_ = ctx.get("os")
        if isinstance(os_, dict):
            candidates.append(os_.get("name"))
        lib = ctx.get("library")
        if isinstance(lib, dict) and str(lib.get("name", "")).startswith("analytics.js"):
            candidates.append("web")
        candidates.append(ctx.get("platform"))
    props = message.get("properties") or {}
    if isinstance(props, dict):
        candidates.append(props.get("$lib"))  # Sensors Analytics
    for c in candidates:
        if isinstance(c, str) and c.strip().lower() in _PLATFORMS:
            return _PLATFORMS[c.strip().lower()]
    return None


def to_rows(messages: Sequence[Mapping[str, Any]], links: Mapping[str, str]) -> pa.Table:
    """Messages → rows of the canonical ``events`` table (pure)."""
    cols: dict[str, list[Any]] = {c: [] for c in TABLES_BY_NAME["events"].column_names}
    for m in messages:
        mtype = str(m.get("type", "track"))
        user = identity.resolve(m, links)
        ts = parse_time(str(m["timestamp"])).astimezone(UTC).replace(tzinfo=None)
        body = m.get("properties") if mtype in ("track", "page", "screen") else m.get("traits")
        props: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        if mtype in ("page", "screen") and m.get("name"):
            props.setdefault("name", m["name"])
        if mtype == "group":
            props.setdefault("groupId", m.get("groupId"))
        if user is not None and identity.customer_id(user) is None:
            props.setdefault("$user_id", user)  # a non-numeric user id is kept, not lost
        cols["message_id"].append(str(m["messageId"]))
        cols["ts"].append(ts)
        cols["event"].append(str(m.get("event") or EVENT_NAMES[mtype]))
        cols["customer_id"].append(identity.customer_id(user))
        anon = m.get("anonymousId")
        cols["anonymous_id"].append(str(anon) if anon else None)
        cols["platform"].append(platform_of(m))
        cols["properties"].append(orjson.dumps(props).decode())
    return pa.Table.from_pydict(cols, schema=TABLES_BY_NAME["events"].schema)


def flush_records(
    records: Sequence[Record],
    *,
    store: Store,
    warehouse: Warehouse,
    dataset: str | None = None,
    erased: frozenset[str] | set[str] = frozenset(),
    position_of: str | None = None,
) -> int:
    """Write one batch of log records into the warehouse; returns rows newly inserted.

    Records of ``erased`` user or anonymous ids are skipped (a redelivery after an
    erasure must not bring the events back). With ``position_of`` (a consumer name) on
    a DuckDB warehouse, exactly once comes from the stream position stored with the
    rows (:func:`append_from_stream`: for the embedded log, one reader, ids unique at
    acknowledgement); otherwise from an anti-join on ``message_id``."""
    if not records:
        return 0
    decoded = [(r.offset, orjson.loads(r.payload)) for r in records]
    if erased:
        decoded = [(o, m) for o, m in decoded if not (set(map(str, who(m))) & erased)]
    messages = [m for _, m in decoded]
    by_position = position_of is not None and warehouse.dialect == "duckdb"
    if not messages and not by_position:
        return 0
    anon = [str(m["anonymousId"]) for m in messages if m.get("anonymousId")]
    asserted = identity.links_in(messages)
    links = identity.load_links(store, anon + [x.anonymous_id for x in asserted])
    new_links = [x for x in asserted if x.anonymous_id not in links]  # first link wins
    if new_links:
        identity.save_links(store, new_links)
        # what won (another writer may have linked one first): read those back
        links.update(identity.load_links(store, [x.anonymous_id for x in new_links]))
    rows = to_rows(messages, links)
    if position_of is not None and by_position:
        return append_from_stream(
            warehouse,
            "events",
            rows,
            consumer=position_of,
            offsets=[o for o, _ in decoded],
            next_offset=records[-1].offset + 1,
            dataset=dataset,
        )
    return append(warehouse, "events", rows, dataset)


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
