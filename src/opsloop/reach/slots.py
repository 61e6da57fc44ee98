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
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

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
    activity: str | None = None  # with hide_participants: hidden from its participants
    journey: str | None = None  # a journey's assignment: shown while it runs …
    visit: int = 0  # … and until the customer exits this visit

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "image_url": self.image_url,
            "link": self.link,
            "priority": self.priority,
            "source": self.source,
        }


_A = SlotAssignmentRow
_ASSIGNED = (
    _A.id, _A.slot, _A.customer_id, _A.journey_id, _A.visit, _A.title, _A.image_url, _A.link,
    _A.priority, _A.starts_at, _A.ends_at,
)  # fmt: skip
_CONTENT = (
    SlotContentRow.id, SlotContentRow.slot, SlotContentRow.title, SlotContentRow.image_url,
    SlotContentRow.link, SlotContentRow.priority, SlotContentRow.starts_at,
    SlotContentRow.ends_at, SlotContentRow.activity_id, SlotContentRow.hide_participants,
    ActivityRow.status,
)  # fmt: skip
PRUNE_EVERY = timedelta(minutes=10)  # drop expired assignments from memory this often


class SlotIndex:
    """The slots' contents in memory, rebuilt by :meth:`refresh` at little cost.

    Contents and assignments never change once written, so a refresh reads what is new
    (assignments by id, a content's customer list once) plus the *states* that decide
    visibility — running journeys, customers who exited, activities' status and
    participants — each re-read only when a count says it moved. A count that does not
    add up (a row committed late with a lower id) triggers a full rebuild; expired
    assignments are dropped from memory every ``PRUNE_EVERY`` (a pass over the index, not
    a reload: a full build costs ~1.6 s CPU per 100,000 banners, measured). ``best``
    applies the states at lookup, so a journey pausing hides its banners at the next
    refresh without rebuilding anything.
    """

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store, self.clock = store, clock
        self.refreshed_at: datetime | None = None
        self._by_slot: dict[str, list[SlotContent]] = {}
        self._customers: dict[int, frozenset[int] | None] = {}  # content id → its list
        self._assigned: dict[str, dict[int, list[SlotContent]]] = {}
        self._seen_max, self._seen_total = 0, 0
        self._full_at: datetime | None = None
        self._pruned_at = datetime.min.replace(tzinfo=UTC)
        self._journeys: set[str] = set()  # journeys with assignments
        self._running: frozenset[str] = frozenset()
        self._exit_counts: dict[str, int] = {}
        self._exited: frozenset[tuple[str, int, int]] = frozenset()
        self._part_counts: dict[str, int] = {}
        self._took_part: dict[str, frozenset[int]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> int:
        """Bring the index up to date; returns how many contents and assignments it holds."""
        with self._lock:  # the refresher thread and a request's refresh-after-write
            return self._refresh()

    def _refresh(self) -> int:
        now = self.clock()
        with self.store.session() as s:
            self._refresh_assignments(s, now)
            self._running = frozenset(
                s.scalars(select(JourneyRow.journey_id).where(JourneyRow.status == "running"))
            )
            self._exited = self._moved(
                s, self._journeys, self._exit_counts, self._exited_of, self._exited
            )
            hiding = self._refresh_contents(s, now)
            self._took_part = self._participants(s, hiding)
        self.refreshed_at = now
        held = sum(len(v) for per in self._assigned.values() for v in per.values())
        return held + sum(len(v) for v in self._by_slot.values())

    # -- assignments (journeys' slot messages) -------------------------------------------
    def _refresh_assignments(self, s: Session, now: datetime) -> None:
        total, top = s.execute(select(func.count(), func.max(_A.id))).one()
        total, top = int(total), int(top or 0)
        full = self._full_at is None
        if not full and now - self._pruned_at >= PRUNE_EVERY:
            self._assigned = {
                slot: {cid: kept for cid, items in d.items() if (kept := _live(items, now))}
                for slot, d in self._assigned.items()
            }
            self._pruned_at = now
        if not full and total != self._seen_total:
            rows = s.execute(
                select(*_ASSIGNED).where(_A.id > self._seen_max, _A.id <= top).order_by(_A.id)
            ).all()
            if self._seen_total + len(rows) == total:
                self._add(self._assigned, rows, now)  # new lists swapped in, never mutated
                self._seen_max, self._seen_total = top, total
                return
            full = True  # a row committed late below the last id seen: start over
        if full:
            # Counted before this read: a row committed in between makes the next count
            # disagree, and that refresh starts over again.
            rows = s.execute(select(*_ASSIGNED).where(_A.id <= top, _A.ends_at > now)).all()
            per: dict[str, dict[int, list[SlotContent]]] = {}
            self._journeys = set()
            self._add(per, rows, now)
            self._assigned, self._seen_max, self._seen_total = per, top, total
            self._full_at = self._pruned_at = now

    def _add(self, per: dict[str, dict[int, list[SlotContent]]], rows: Any, now: datetime) -> None:
        new: dict[tuple[str, int], list[SlotContent]] = {}
        for aid, slot, cid, jid, visit, title, image, link, prio, start, end in rows:
            end = as_utc(end)
            if end <= now:
                continue
            c = SlotContent(
                aid, slot, title, image, link, prio, None, as_utc(start), end,
                f"journey:{jid}", None, jid, visit,
            )  # fmt: skip
            new.setdefault((slot, int(cid)), []).append(c)
            self._journeys.add(jid)
        for (slot, cid), items in new.items():
            d = per.setdefault(slot, {})
            d[cid] = sorted([*d.get(cid, ()), *items], key=lambda c: (-c.priority, c.id))

    @staticmethod
    def _exited_of(s: Session, journeys: list[str]) -> set[tuple[str, int, int]]:
        st = CustomerState
        q = (
            select(st.journey_id, st.customer_id, st.visit)
            .join(  # only customers holding a banner: memory follows assignments, not exits
                _A,
                (_A.journey_id == st.journey_id)
                & (_A.customer_id == st.customer_id)
                & (_A.visit == st.visit),
            )
            .where(st.journey_id.in_(journeys), st.status == "exited")
            .distinct()
        )
        return {(j, int(c), int(v)) for j, c, v in s.execute(q)}

    def _moved(
        self,
        s: Session,
        journeys: set[str],
        counts: dict[str, int],
        load: Callable[[Session, list[str]], set[tuple[str, int, int]]],
        held: frozenset[tuple[str, int, int]],
    ) -> frozenset[tuple[str, int, int]]:
        """Exited (journey, customer, visit) of ``journeys``, re-read per journey only
        when its count of exited states changed."""
        if not journeys:
            counts.clear()
            return frozenset()
        now_counts = {
            j: int(n)
            for j, n in s.execute(
                select(CustomerState.journey_id, func.count())
                .where(CustomerState.journey_id.in_(sorted(journeys)))
                .where(CustomerState.status == "exited")
                .group_by(CustomerState.journey_id)
            )
        }
        changed = sorted(j for j in journeys if now_counts.get(j, 0) != counts.get(j, -1))
        if not changed:
            return held
        keep = {t for t in held if t[0] in journeys and t[0] not in changed}
        counts.clear()
        counts.update({j: now_counts.get(j, 0) for j in journeys})
        return frozenset(keep | load(s, changed))

    # -- contents and activity banners -----------------------------------------------
    def _refresh_contents(self, s: Session, now: datetime) -> list[str]:
        rows = s.execute(
            select(*_CONTENT)
            .outerjoin(ActivityRow, ActivityRow.activity_id == SlotContentRow.activity_id)
            .where(SlotContentRow.ends_at > now)
        ).all()
        live = [r for r in rows if r.activity_id is None or r.status == "running"]
        new = [r.id for r in live if r.id not in self._customers]
        for i in range(0, len(new), 500):
            for cid, ids in s.execute(
                select(SlotContentRow.id, SlotContentRow.customer_ids).where(
                    SlotContentRow.id.in_(new[i : i + 500])
                )
            ):
                self._customers[cid] = frozenset(ids) if ids is not None else None
        keep = {r.id for r in rows}
        self._customers = {k: v for k, v in self._customers.items() if k in keep}
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
                    self._customers.get(r.id),
                    as_utc(r.starts_at),
                    as_utc(r.ends_at),
                    f"activity:{r.activity_id}" if r.activity_id else "content",
                    r.activity_id if r.hide_participants else None,
                )
            )
        for items in by.values():
            items.sort(key=lambda c: (-c.priority, c.id))
        self._by_slot = by  # a reference swap: readers see the old list or the new one
        return sorted({r.activity_id for r in live if r.activity_id and r.hide_participants})

    def _participants(self, s: Session, hiding: list[str]) -> dict[str, frozenset[int]]:
        """Who took part in each activity whose banner hides from participants (re-read
        per activity only when its count of participations changed)."""
        if not hiding:
            self._part_counts = {}
            return {}
        counts = {
            a: int(n)
            for a, n in s.execute(
                select(Participation.activity_id, func.count())
                .where(Participation.activity_id.in_(hiding))
                .group_by(Participation.activity_id)
            )
        }
        out = {}
        for a in hiding:
            if a in self._took_part and counts.get(a, 0) == self._part_counts.get(a):
                out[a] = self._took_part[a]
                continue
            out[a] = frozenset(
                int(c)
                for c in s.scalars(
                    select(Participation.customer_id).where(Participation.activity_id == a)
                )
            )
        self._part_counts = {a: counts.get(a, 0) for a in hiding}
        return out

    # -- lookups ------------------------------------------------------------------------
    def best(self, slot: str, customer_id: int, now: datetime | None = None) -> SlotContent | None:
        now = now or self.clock()
        found = None
        for c in self._by_slot.get(slot, ()):
            if (
                c.starts_at <= now < c.ends_at
                and (c.customers is None or customer_id in c.customers)
                and (c.activity is None or customer_id not in self._took_part.get(c.activity, ()))
            ):
                found = c
                break
        mine = self._assigned.get(slot)
        if mine:
            running, exited = self._running, self._exited
            for c in mine.get(customer_id, ()):
                if (
                    c.starts_at <= now < c.ends_at
                    and c.journey in running
                    and (c.journey, customer_id, c.visit) not in exited
                ):
                    if found is None or c.priority >= found.priority:
                        found = c
                    break
        return found

    def answer(self, slot: str, customer_id: int) -> dict[str, Any]:
        """The response body of ``GET /api/v1/slots/{slot}`` (route and fast path alike)."""
        c = self.best(slot, customer_id)
        return {"slot": slot, "content": None if c is None else c.public()}


def _live(items: list[SlotContent], now: datetime) -> list[SlotContent]:
    return items if all(c.ends_at > now for c in items) else [c for c in items if c.ends_at > now]


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
