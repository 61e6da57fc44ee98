"""When to try a failed send again: exponential backoff with jitter, then dead-letter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempt ``n`` failed → wait ``uniform(1-jitter, 1) * min(cap, base * 2**(n-1))``.

    Jitter spreads retries of a burst that failed together (a gateway's 503) so they do
    not all come back at once. A provider's ``Retry-After`` is honoured when longer.
    """

    base_s: float = 1.0
    cap_s: float = 300.0
    max_attempts: int = 6
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        raw = min(self.cap_s, self.base_s * 2.0 ** max(attempt - 1, 0))
        d: float = raw * (1.0 - self.jitter * rng.random())
        return max(d, min(retry_after or 0.0, self.cap_s))

    def exhausted(self, attempt: int) -> bool:
        return attempt >= self.max_attempts
