"""App resource slots (资源位): the best content for a customer now, from memory.

The app asks on every screen view, so the answer comes from an in-memory index
(slot → contents by priority, highest first), rebuilt from the store every few seconds
by a background refresher; a request never touches the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from opsloop.access.clock import as_utc, utcnow
from opsloop.logging import get_logger
from opsloop.reach.models import SlotContentRow
from opsloop.store import Store

log = get_logger("opsloop.reach.slots")


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


class SlotIndex:
    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store, self.clock = store, clock
        self._by_slot: dict[str, list[SlotContent]] = {}
        self.refreshed_at: datetime | None = None

    def refresh(self) -> int:
        now = self.clock()
        with self.store.session() as s:
            rows = s.scalars(select(SlotContentRow).where(SlotContentRow.ends_at > now)).all()
        by: dict[str, list[SlotContent]] = {}
        for r in rows:
            by.setdefault(r.slot, []).append(
                SlotContent(
                    r.id,
                    r.slot,
                    r.title,
                    r.image_url,
                    r.link,
                    r.priority,
                    frozenset(r.customer_ids) if r.customer_ids is not None else None,
                    as_utc(r.starts_at),
                    as_utc(r.ends_at),
                )
            )
        for items in by.values():
            items.sort(key=lambda c: (-c.priority, c.id))
        self._by_slot = by  # one reference swap: readers never see a half-built index
        self.refreshed_at = now
        return len(rows)

    def best(self, slot: str, customer_id: int, now: datetime | None = None) -> SlotContent | None:
        now = now or self.clock()
        for c in self._by_slot.get(slot, ()):
            if c.starts_at <= now < c.ends_at and (
                c.customers is None or customer_id in c.customers
            ):
                return c
        return None


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
