"""Token-bucket rate limits per channel/provider, shared by a worker's threads.

Implemented as GCRA (the "virtual scheduling" form of a token bucket): one timestamp,
the theoretical arrival time ``tat``, advanced by ``1/rate`` per token. A caller may go
when ``tat - burst/rate <= now``. Being exact arithmetic on one number (no refill
ticks), the sustained rate is the configured one to well within 2 %.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second with bursts of up to ``burst`` tokens."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.interval = 1.0 / rate
        self.tolerance = (burst - 1) * self.interval
        self._clock, self._sleep = clock, sleep
        self._tat = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; returns how long the caller must wait before using it."""
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            wait = max(0.0, tat - self.tolerance - now)
            self._tat = tat + self.interval
            return wait

    def acquire(self) -> None:
        """Block until a token is available."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)


class TickPacer:
    """Async waits rounded up to ``tick`` boundaries: one timer per tick, not per message.

    At 5,000 messages/s each waiting on its own ``asyncio.sleep`` the event loop wakes
    5,000 times a second (a timer, a poll and a callback each); sharing one future per
    1 ms tick wakes it at most 1,000 times and releases the due messages together. A
    message goes at most one tick after its reservation, never before it, so the rate
    never exceeds the bucket's. (A cancelled waiter cancels its tick's shared future;
    that only happens when the dispatcher stops, which cancels every waiter anyway.)
    """

    def __init__(self, tick: float = 0.001) -> None:
        self.tick = tick
        self._slots: dict[int, asyncio.Future[None]] = {}

    async def sleep(self, wait: float) -> None:
        loop = asyncio.get_running_loop()
        slot = math.ceil((loop.time() + wait) / self.tick)
        fut = self._slots.get(slot)
        if fut is None or fut.get_loop() is not loop or fut.done():
            fut = loop.create_future()
            self._slots[slot] = fut
            loop.call_at(slot * self.tick, self._release, slot, fut)
        await fut

    def _release(self, slot: int, fut: asyncio.Future[None]) -> None:
        if self._slots.get(slot) is fut:
            del self._slots[slot]
        if not fut.done():
            fut.set_result(None)
