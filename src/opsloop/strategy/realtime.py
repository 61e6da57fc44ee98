"""Real time: the Collection event stream, consumed in micro-batches by the same executor.

A micro-batch is whatever the stream consumer hands out at once (up to ``batch``
records). Its events are resolved to customers exactly as the warehouse flusher does
(:func:`opsloop.collect.flush.to_rows`, identity links included), then, per running
journey:

* **event-triggered entries**: the customers with a matching event enter together, one
  :func:`~opsloop.strategy.executor.enter` call, each under the entry key
  ``evt:<message id>`` of their first matching event — a redelivered record (the
  consumer delivers at least once) enters nobody twice;
* **wait-for-event**: the customers of the batch waiting at a matching ``wait_event``
  are resumed with one :func:`~opsloop.strategy.executor.tick` limited to them, the
  batch's own events overlaid on the warehouse's (they are not flushed there yet).

Why not one call per event: a call costs a few transactions and warehouse look-ups; a
batch costs the same few, so throughput grows with load while latency stays one batch.
A micro-batch is **one transaction** over every journey (entries, resumes, steps,
outbox rows, counters, states, node counts): one commit, and a failure rolls the whole
batch back for the stream to redeliver.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from opsloop.access.principal import Principal
from opsloop.collect import identity
from opsloop.collect.flush import to_rows
from opsloop.collect.log import Record
from opsloop.insight.segments.model import EventStep
from opsloop.store import Store
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import Ports, RunContext, enter, tick
from opsloop.strategy.journey import JourneyDefinition, validate_journey
from opsloop.strategy.models import JourneyVersionRow
from opsloop.strategy.policy import ContactPolicy
from opsloop.warehouse import Warehouse

Ids = npt.NDArray[np.int64]


@dataclass(frozen=True)
class StreamEvent:
    """One customer's event as the journeys see it."""

    customer_id: int
    event: str
    properties: dict[str, Any]
    message_id: str
    at: dt.datetime


def stream_events(records: Sequence[Record], store: Store) -> list[StreamEvent]:
    """Records of the Collection stream → events of known customers (others are dropped)."""
    if not records:
        return []
    messages = [orjson.loads(r.payload) for r in records]
    fresh = {ln.anonymous_id: ln.user_id for ln in identity.links_in(messages)}
    anon = [str(m["anonymousId"]) for m in messages if m.get("anonymousId")]
    links = fresh | identity.load_links(store, anon)  # stored links win (first link wins)
    rows = to_rows(messages, links).to_pylist()
    return [
        StreamEvent(
            int(r["customer_id"]),
            str(r["event"]),
            orjson.loads(r["properties"]),
            str(r["message_id"]),
            r["ts"].replace(tzinfo=dt.UTC),
        )
        for r in rows
        if r["customer_id"] is not None
    ]


def matches(step: EventStep, e: StreamEvent) -> bool:
    props = step.properties.items()
    return step.event == e.event and all(e.properties.get(k) == v for k, v in props)


class BatchOverlay:
    """The warehouse's data plus the micro-batch's events (not flushed there yet)."""

    def __init__(self, data: WarehouseData, events: Sequence[StreamEvent]) -> None:
        self.data, self.events = data, events

    def attribute(self, field: str, ids: Ids) -> npt.NDArray[Any]:
        return self.data.attribute(field, ids)

    def condition(self, condition: Any, where: str, ids: Ids) -> npt.NDArray[np.bool_]:
        return self.data.condition(condition, where, ids)

    def scores(self, model: str, ids: Ids) -> npt.NDArray[np.float64]:
        return self.data.scores(model, ids)

    def tag(self, name: str, ids: Ids) -> npt.NDArray[Any]:
        return self.data.tag(name, ids)

    def last_event(self, step: EventStep, ids: Ids, after: dt.datetime) -> npt.NDArray[Any]:
        out = self.data.last_event(step, ids, after)
        latest: dict[int, np.datetime64] = {}
        for e in self.events:
            if matches(step, e):
                t = np.datetime64(e.at.astimezone(dt.UTC).replace(tzinfo=None), "us")
                latest[e.customer_id] = max(latest.get(e.customer_id, t), t)
        if latest:
            got = np.array([latest.get(int(c), np.datetime64("NaT", "us")) for c in ids])
            out = np.where(np.isnat(out) | (~np.isnat(got) & (got > out)), got, out)
        return out


def running_journeys(store: Store) -> list[JourneyDefinition]:
    with store.session() as s:
        return _running(s, {})


def _running(
    session: Session, cache: dict[tuple[str, int], JourneyDefinition]
) -> list[JourneyDefinition]:
    """The running versions; a version's document never changes, so ``cache`` keeps it
    validated across batches (only the (id, version) pairs are read each time)."""
    jv = JourneyVersionRow
    keys = session.execute(
        select(jv.journey_id, jv.version).where(jv.status == "running").order_by(jv.journey_id)
    ).all()
    out = []
    for jid, version in keys:
        if (jid, version) not in cache:
            doc = session.get_one(jv, (jid, version)).definition
            cache[(jid, version)] = validate_journey(doc)
        out.append(cache[(jid, version)])
    return out


def process(
    events: Sequence[StreamEvent],
    *,
    store: Store,
    data: WarehouseData,
    journeys: Sequence[JourneyDefinition],
    ports: Ports,
    policy: ContactPolicy,
    now: dt.datetime,
    scoped: Ids | None = None,
    session: Session | None = None,
) -> dict[str, int]:
    """One micro-batch through every running journey; counts entered and resumed.

    ``scoped``: the customer ids in the caller's scope, when already known (a runner
    keeps them with its snapshot); otherwise one warehouse query finds them.
    ``session``: the batch's transaction (one is opened when None); every journey's
    entries and resumes run in it and commit together.
    """
    if not events:
        return {}
    if session is None:
        with store.session() as s:
            return process(
                events, store=store, data=data, journeys=journeys, ports=ports,
                policy=policy, now=now, scoped=scoped, session=s,
            )  # fmt: skip
    one = _within(session)
    out: dict[str, int] = {}
    overlay = BatchOverlay(data, events)
    who = np.array(sorted({e.customer_id for e in events}), np.int64)
    known = who[np.isin(who, scoped)] if scoped is not None else None
    in_scope = _in_scope(data, who) if known is None else set(known.tolist())
    for j in journeys:
        for node in j.nodes:
            if node.kind != "event_entry":
                continue
            first: dict[int, str] = {}
            for e in events:
                if e.customer_id in in_scope and matches(node.config.trigger, e):
                    first.setdefault(e.customer_id, f"evt:{e.message_id}"[:64])
            if not first:
                continue
            res = enter(
                sessions=one,
                journey=j,
                entry_node=node.id,
                ids=np.fromiter(first.keys(), np.int64, len(first)),
                entry_keys=list(first.values()),
                data=overlay,
                ports=ports,
                ctx=RunContext(now=now, entry_key="stream", policy=policy),
            )
            out[f"{j.id}/{node.id}"] = res.entered
        waits = [n.config.event for n in j.nodes if n.kind == "wait_event"]
        waiting = {e.customer_id for e in events if any(matches(w, e) for w in waits)}
        if waiting:
            got = tick(
                sessions=one,
                journey=j,
                data=overlay,
                ports=ports,
                ctx=RunContext(now=now, entry_key="stream", policy=policy),
                customer_ids=np.array(sorted(waiting), dtype=np.int64),
            )
            out[f"{j.id}/resumed"] = sum(m.get("branch:event", 0) for m in got.values())
    return out


def _within(session: Session) -> Callable[[], Any]:
    """A ``sessions()`` factory that hands out the batch's one transaction again."""

    @contextmanager
    def again() -> Iterator[Session]:
        yield session

    return again


def _in_scope(data: WarehouseData, ids: Ids) -> set[int]:
    c = data.customers()
    got = data.wh.execute(c.filter(c.customer_id.isin(ids.tolist())).select("customer_id"))
    return {int(v) for v in got.column("customer_id").to_pylist()}


@dataclass
class Processor:
    """What a runner needs to handle micro-batches (one per process, reused).

    Why a snapshot: building and compiling a warehouse query costs ~50-100 ms, more
    than the rest of a batch. The customer columns a batch needs (scope, consent, DND,
    org) are read once per ``refresh_s`` and reused; conditions, scores and event
    waits still query the warehouse when a journey has them. Consent withdrawn in the
    meantime is still honoured: Reach's dispatcher checks its consent overrides before
    sending.
    """

    store: Store
    wh: Warehouse
    principal: Principal
    policy: ContactPolicy
    ports: Ports
    clock: Callable[[], dt.datetime]
    refresh_s: float = 30.0
    _data: WarehouseData | None = None
    _scoped: Ids | None = None
    _at: float = 0.0
    _journeys: dict[tuple[str, int], JourneyDefinition] = field(default_factory=dict)

    def snapshot(self, now: dt.datetime) -> tuple[WarehouseData, Ids]:
        stale = time.monotonic() - self._at > self.refresh_s
        if self._data is None or self._scoped is None or stale:
            data = WarehouseData(self.wh, as_of=now, principal=self.principal)
            c = data.customers()
            got = self.wh.execute(c.select("customer_id"))
            self._scoped = np.sort(got.column("customer_id").to_numpy().astype(np.int64))
            self._data, self._at = data, time.monotonic()
        return self._data, self._scoped

    def __call__(self, records: Sequence[Record]) -> dict[str, int]:
        events = stream_events(records, self.store)
        if not events:
            return {}
        with self.store.session() as s:  # the whole micro-batch: one transaction
            journeys = _running(s, self._journeys)
            if not journeys:
                return {}
            now = self.clock()
            data, scoped = self.snapshot(now)
            return process(
                events,
                store=self.store,
                data=data,
                journeys=journeys,
                ports=self.ports,
                policy=self.policy,
                now=now,
                scoped=scoped,
                session=s,
            )
