"""App resource slots (资源位): the best content for a customer now, from memory.

The app asks on every screen view, so the answer comes from an in-memory index rebuilt
from the store every few seconds by a background refresher; a request never touches the
database. Three sources fill a slot, ranked together by priority (highest first; on a
tie the content chosen for this customer — a journey's — wins, then the lowest id):

- **contents** posted by staff (``reach_slot_contents``), for everyone or listed customers;
- **an activity's banner**: a content row naming ``activity_id``. It is shown only while
  the activity is ``running`` (paused, finished: gone at the next refresh) and, with
  ``hide_participants``, no longer to a customer who has taken part in it;
- **a journey's node**: a message on the ``slot`` channel (:class:`SlotChannel`) lands
  as a per-customer assignment (``reach_slot_assignments``, keyed by the outbox key). It
  is shown while the journey is ``running`` and until the customer *exits* that visit
  of the journey (exit node, goal reached, blocked: ``strategy_states.status =
  'exited'``); a customer who simply reaches the end keeps it until ``ends_at``.

Invalidation is by refresh: every refresher (one per API process) rebuilds the index
within ``every_s`` seconds of a journey or activity stopping or a customer's state
changing; a slot posted through the API refreshes that process at once. A rebuild
reads every live content and assignment (cost grows with them: see docs/bench/reach.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from opsloop.access.clock import as_utc, utcnow
from opsloop.activity.models import ActivityRow, Participation
from opsloop.logging import get_logger
from opsloop.reach.channels.base import Outbound, SendResult, text
from opsloop.reach.models import SlotAssignmentRow, SlotContentRow
from opsloop.store import Store
from opsloop.strategy.models import CustomerState, JourneyRow

log = get_logger("opsloop.reach.slots")

SLOT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
DEFAULT_HOURS = 24.0


@dataclass(frozen=True, slots=True)
class SlotContent:
    id: int
    slot: str
    title: str
    image_url: str | None
    link: str | None
    priority: int
    customers: frozenset[int] | None
    starts_at: datetime
    ends_at: datetime
    source: str = "content"  # content | activity:<id> | journey:<id>
    hidden: frozenset[int] = frozenset()  # an activity's participants (hide_participants)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "image_url": self.image_url,
            "link": self.link,
            "priority": self.priority,
            "source": self.source,
        }


def _utc(value: datetime) -> datetime:
    return as_utc(value)


class SlotIndex:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store, self.clock = store, clock
        self._by_slot: dict[str, list[SlotContent]] = {}
        self._assigned: dict[str, dict[int, list[SlotContent]]] = {}
        self.refreshed_at: datetime | None = None

    def refresh(self) -> int:
        """Rebuild from the store; returns how many contents and assignments are live."""
        now = self.clock()
        with self.store.session() as s:
            rows = s.execute(
                select(SlotContentRow, ActivityRow.status)
                .outerjoin(ActivityRow, ActivityRow.activity_id == SlotContentRow.activity_id)
                .where(SlotContentRow.ends_at > now)
            ).all()
            live = [r for r, st in rows if r.activity_id is None or st == "running"]
            hiding = sorted({r.activity_id for r in live if r.activity_id and r.hide_participants})
            took_part: dict[str, set[int]] = {a: set() for a in hiding}
            if hiding:
                for act, cid in s.execute(
                    select(Participation.activity_id, Participation.customer_id)
                    .where(Participation.activity_id.in_(hiding))
                    .distinct()
                ):
                    took_part[act].add(int(cid))
            a = SlotAssignmentRow
            exited = exists().where(
                and_(
                    CustomerState.journey_id == a.journey_id,
                    CustomerState.customer_id == a.customer_id,
                    CustomerState.visit == a.visit,
                    CustomerState.status == "exited",
                )
            )
            assigned = s.execute(
                select(
                    a.id,
                    a.slot,
                    a.customer_id,
                    a.journey_id,
                    a.title,
                    a.image_url,
                    a.link,
                    a.priority,
                    a.starts_at,
                    a.ends_at,
                )
                .join(JourneyRow, JourneyRow.journey_id == a.journey_id)
                .where(a.ends_at > now, JourneyRow.status == "running", ~exited)
            ).all()
        by: dict[str, list[SlotContent]] = {}
        for r in live:
            by.setdefault(r.slot, []).append(
                SlotContent(
                    r.id,
                    r.slot,
                    r.title,
                    r.image_url,
                    r.link,
                    r.priority,
                    frozenset(r.customer_ids) if r.customer_ids is not None else None,
                    _utc(r.starts_at),
                    _utc(r.ends_at),
                    f"activity:{r.activity_id}" if r.activity_id else "content",
                    frozenset(took_part.get(r.activity_id or "", ())),
                )
            )
        for items in by.values():
            items.sort(key=lambda c: (-c.priority, c.id))
        per: dict[str, dict[int, list[SlotContent]]] = {}
        for aid, slot, cid, jid, title, image, link, prio, start, end in assigned:
            per.setdefault(slot, {}).setdefault(int(cid), []).append(
                SlotContent(
                    aid,
                    slot,
                    title,
                    image,
                    link,
                    prio,
                    None,
                    _utc(start),
                    _utc(end),
                    f"journey:{jid}",
                )
            )
        for customers in per.values():
            for items in customers.values():
                items.sort(key=lambda c: (-c.priority, c.id))
        # Reference swaps: readers see the old index or the new one, never half of one.
        self._by_slot, self._assigned = by, per
        self.refreshed_at = now
        return len(live) + len(assigned)

    def best(self, slot: str, customer_id: int, now: datetime | None = None) -> SlotContent | None:
        now = now or self.clock()
        found = None
        for c in self._by_slot.get(slot, ()):
            if (
                c.starts_at <= now < c.ends_at
                and (c.customers is None or customer_id in c.customers)
                and customer_id not in c.hidden
            ):
                found = c
                break
        mine = self._assigned.get(slot)
        if mine:
            for c in mine.get(customer_id, ()):
                if c.starts_at <= now < c.ends_at:
                    if found is None or c.priority >= found.priority:
                        found = c
                    break
        return found

    def answer(self, slot: str, customer_id: int) -> dict[str, Any]:
        """The response body of ``GET /api/v1/slots/{slot}`` (route and fast path alike)."""
        c = self.best(slot, customer_id)
        return {"slot": slot, "content": None if c is None else c.public()}


class Refresher:
    """Rebuilds the index every ``every_s`` seconds in a daemon thread."""

    def __init__(self, index: SlotIndex, every_s: float = 2.0) -> None:
        self.index, self.every_s = index, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reach-slots", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.index.refresh()
            except Exception as exc:  # keep serving the last good index
                log.warning("slot refresh failed", error=repr(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class SlotChannel:
    """The ``slot`` channel: a journey's message becomes that customer's slot content.

    Payload (what a journey's send node puts in; Strategy's sink adds ``journey_id`` and
    ``version``): ``slot`` and ``title`` required; ``image_url``, ``link``, ``priority``
    (int, default 0), ``hours`` (how long it shows, default 24). The visit comes from the
    journey key (``j:journey:version:node:customer:visit``). A payload that cannot be
    shown is dead-lettered with the field named; a re-sent key lands once.
    """

    def __init__(self, name: str, store: Store, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.name, self.store, self.clock = name, store, clock

    def send(self, msg: Outbound) -> SendResult:
        p = msg.payload
        slot, title = text(p, "slot"), text(p, "title")
        parts = msg.key.split(":")
        problem = None
        if not SLOT_NAME.fullmatch(slot):
            problem = "payload.slot: missing or not a slot name"
        elif not title:
            problem = "payload.title: missing"
        elif parts[0] != "j" or len(parts) < 6 or not parts[-1].isdigit():
            problem = "key: not a journey message key (j:journey:version:node:customer:visit)"
        elif not isinstance(p.get("journey_id"), str):
            problem = "payload.journey_id: missing"
        if problem is None:
            try:
                priority = int(p.get("priority", 0))  # type: ignore[call-overload]
                hours = float(p.get("hours", DEFAULT_HOURS))  # type: ignore[arg-type]
                version = int(p.get("version", parts[2]))  # type: ignore[call-overload]
            except (TypeError, ValueError):
                problem = "payload.priority/hours/version: not a number"
            else:
                if not (-1000 <= priority <= 1000) or not (0 < hours <= 24 * 366):
                    problem = "payload.priority in [-1000, 1000] and hours in (0, 8784]"
        if problem is not None:
            return SendResult("dead", error=problem)
        now = self.clock()
        with self.store.session() as s:
            ins = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            s.execute(
                ins(SlotAssignmentRow)
                .values(
                    message_key=msg.key,
                    slot=slot,
                    customer_id=msg.customer_id,
                    journey_id=str(p["journey_id"]),
                    version=version,
                    visit=int(parts[-1]),
                    title=title[:200],
                    image_url=_url(p.get("image_url")),
                    link=_url(p.get("link")),
                    priority=priority,
                    starts_at=now,
                    ends_at=now + timedelta(hours=hours),
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["message_key"])
            )
        return SendResult("sent", provider_id=msg.key)

    def close(self) -> None:
        return None


def _url(value: object) -> str | None:
    return (
        value[:500]
        if isinstance(value, str) and value.startswith(("https://", "http://"))
        else None
    )
