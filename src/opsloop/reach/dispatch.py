"""Dispatch workers: claim due outbox rows, send them through their channel, record.

A worker is a loop of :meth:`Dispatcher.run_once`: claim a batch under a lease, drop
what a consent override now forbids (suppressed, with the reason), send the rest
concurrently (each channel waits on its own token bucket), and record every result
in one transaction. Time and randomness are injected so tests can drive them.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from opsloop.access.clock import utcnow
from opsloop.logging import get_logger
from opsloop.reach import consent, outbox
from opsloop.reach.channels.base import Channel, SendResult
from opsloop.reach.outbox import Claimed, Result
from opsloop.reach.retry import RetryPolicy
from opsloop.store import Store

log = get_logger("opsloop.reach.dispatch")


class Dispatcher:
    """One worker: its channels, its retry policy, its lease length and batch size."""

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        *,
        policy: RetryPolicy | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 200,
        concurrency: int = 16,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.store, self.channels = store, dict(channels)
        self.policy = policy or RetryPolicy()
        self.lease, self.batch, self.clock = lease, batch, clock
        self.rng = rng or random.Random()  # noqa: S311 (retry jitter, not security)
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="reach-send")

    def run_once(self) -> int:
        """Claim, send and record one batch; returns how many messages were handled."""
        claimed = outbox.claim(
            self.store, now=self.clock(), limit=self.batch, lease=self.lease, channels=self.channels
        )
        if not claimed:
            return 0
        with self.store.session() as s:
            no = consent.blocked(s, {(c.message.customer_id, c.message.channel) for c in claimed})
        results = [
            Result(c.id, c.token, "suppressed", error="consent withdrawn (unsubscribed)")
            for c in claimed
            if (c.message.customer_id, c.message.channel) in no
        ]
        to_send = [c for c in claimed if (c.message.customer_id, c.message.channel) not in no]
        sent = list(self.pool.map(self._send, to_send))
        now = self.clock()
        results += [self._result(c, r, now) for c, r in zip(to_send, sent, strict=True)]
        outbox.complete(self.store, results, now=now)
        return len(claimed)

    def _send(self, c: Claimed) -> SendResult:
        channel = self.channels[c.message.channel]
        try:
            return channel.send(c.message)
        except Exception as exc:  # an adapter bug must not lose the batch's results
            log.warning("channel raised", channel=channel.name, error=repr(exc))
            return SendResult("retry", error=f"adapter error: {exc!r}")

    def _result(self, c: Claimed, r: SendResult, now: datetime) -> Result:
        return shape(self.policy, self.rng, c, r, now)

    def run(self, stop: threading.Event, *, idle: float = 0.05) -> int:
        """Loop until ``stop`` is set; sleeps ``idle`` seconds when nothing is due."""
        total = 0
        while not stop.is_set():
            n = self.run_once()
            total += n
            if n == 0:
                stop.wait(idle)
        return total

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for ch in self.channels.values():
            ch.close()


def shape(
    policy: RetryPolicy, rng: random.Random, c: Claimed, r: SendResult, now: datetime
) -> Result:
    """A send result as an outbox result: retry with backoff, or dead once exhausted."""
    if r.outcome == "retry" and policy.exhausted(c.message.attempt):
        return Result(c.id, c.token, "dead", error=f"gave up after retries: {r.error}")
    if r.outcome == "retry":
        wait = policy.delay(c.message.attempt, rng, r.retry_after)
        return Result(
            c.id, c.token, "retry", error=r.error, next_attempt_at=now + timedelta(seconds=wait)
        )
    return Result(c.id, c.token, r.outcome, r.error, r.provider_id, r.cost)
