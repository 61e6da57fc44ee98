"""Token-bucket rate limits per channel/provider, shared by a worker's threads.

Implemented as GCRA (the "virtual scheduling" form of a token bucket): one timestamp,
the theoretical arrival time ``tat``, advanced by ``1/rate`` per token. A caller may go
when ``tat - burst/rate <= now``. Being exact arithmetic on one number (no refill
ticks), the sustained rate is the configured one to well within 2 %.
"""

from __future__ import annotations

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
