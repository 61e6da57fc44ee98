"""A per-process "sold out" marker for coupon drops: refusals answered without I/O.

Why: in a flash sale almost every request arrives after the stock is gone (in the
benchmark 190,000 of 200,000), and each one used to cost the risk windows and a Lua
call just to hear "exhausted" again. Once the counters refuse a grab on a cap shared
by every customer (stock, daily stock, budget, the activity's budget), this process
answers ``exhausted`` for that activity for ``ttl`` seconds without asking anyone.

It cannot oversell: the marker only ever refuses, it never issues. It clears by
itself: stock that comes back (a revoke or a reconciliation refunds the counters, a
new day restores daily stock) is seen by every process within ``ttl`` of the change
plus one counter round trip, because after ``ttl`` the next request asks the counters
again; a process that undoes its own grab clears its marker at once
(:meth:`SoldOut.clear`). Per-customer limits never set it (another customer may still
get a coupon), and the caller skips it for a retry (a ``request_id``), whose first
attempt may have been issued.

**One request asks** when the marker expires: while it does, the others are still
answered from the marker. Why: under a rush every request arriving during that one
counter round trip used to ask too — ~40 per expiry per process, ~10 % of the
sold-out requests in the benchmark, each paying the risk windows and the Lua call
(two Redis round trips) and forming the slow tail of that phase. The asking request
settles the marker: a refusal on a shared cap renews it (:meth:`SoldOut.mark`), any
other answer or an error drops it (:meth:`SoldOut.settle`), so every request asks
again; if it has not answered within ``ttl`` another request may ask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

TTL_SECONDS = 0.1


def shared_cap(key: str) -> bool:
    """Is this counter key a cap every customer shares (not a per-customer limit)?

    The shared ones of :func:`opsloop.activity.counters.charges_for`: ``b/<id>/stock``,
    ``b/<id>/budget``, ``b/<id>/d/<day>`` and ``a/<activity>/budget``.
    """
    parts = key.split("/")
    if len(parts) == 3:
        return (parts[0], parts[2]) in {("b", "stock"), ("b", "budget"), ("a", "budget")}
    return _day(key) is not None


def _day(key: str) -> str | None:
    """The day of a daily-stock key ``b/<id>/d/<day>``, else None."""
    parts = key.split("/")
    if len(parts) == 4 and parts[0] == "b" and parts[2] == "d":
        return parts[3]
    return None


class SoldOut:
    """Activity id → (until, counter that refused), checked before the risk windows."""

    def __init__(
        self, ttl: float = TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl, self.clock = ttl, clock
        self._marks: dict[str, tuple[float, str]] = {}
        self._asking: dict[str, float] = {}  # activity → until when its one asker may ask
        self._lock = threading.Lock()

    def mark(self, activity_id: str, where: str | None) -> None:
        """What a request that asked the counters heard: a refusal on ``where`` renews
        the marker if it is a shared cap; anything else (``None``: issued, refused by
        risk control; a per-customer limit) settles the one asking request."""
        if where and shared_cap(where):
            with self._lock:
                self._marks[activity_id] = (self.clock() + self.ttl, where)
                self._asking.pop(activity_id, None)
        else:
            self.settle(activity_id)

    def settle(self, activity_id: str) -> None:
        """The request asking after the TTL did not hear "sold out" (or failed): drop
        the marker, so every request asks the counters again."""
        if activity_id in self._asking:
            with self._lock:
                if self._asking.pop(activity_id, None) is not None:
                    self._marks.pop(activity_id, None)

    def where(self, activity_id: str, now: datetime) -> str | None:
        """The counter that refused, if it did within ``ttl`` (and still applies today).

        Past the TTL one caller gets ``None`` and asks the counters; until it settles
        the marker (or ``ttl`` passes again) the others still get the counter.
        """
        hit = self._marks.get(activity_id)
        if hit is None:
            return None
        until, key = hit
        day = _day(key)
        if day is not None and day != now.date().isoformat():
            with self._lock:
                if self._marks.get(activity_id) == hit:
                    del self._marks[activity_id]
                    self._asking.pop(activity_id, None)
            return None
        t = self.clock()
        if t < until:
            return key
        with self._lock:
            current = self._marks.get(activity_id)  # renewed or dropped meanwhile?
            if current is None:
                return None
            if t < current[0]:
                return current[1]
            if t < self._asking.get(activity_id, -1.0):
                return current[1]  # another request is asking the counters right now
            self._asking[activity_id] = t + self.ttl
        return None

    def clear(self, activity_id: str | None = None) -> None:
        """Forget one activity's marker (or all): stock came back in this process."""
        with self._lock:
            if activity_id is None:
                self._marks.clear()
                self._asking.clear()
            else:
                self._marks.pop(activity_id, None)
                self._asking.pop(activity_id, None)
