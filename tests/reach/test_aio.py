"""The asyncio dispatcher and its lean HTTP/1.1 pool, against the real local gateway."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from opsloop.reach import consent, outbox
from opsloop.reach.aio import AsyncDispatcher
from opsloop.reach.channels.base import Outbound
from opsloop.reach.channels.webhook import AsyncWebhookChannel
from opsloop.reach.models import ContactRow, OutboxRow
from opsloop.reach.outbox import Message
from opsloop.reach.ratelimit import TokenBucket
from opsloop.reach.retry import RetryPolicy
from opsloop.store import Store

from .gateway import Gateway, running, sustained_rate

SECRET = b"gateway-secret-0123456789"


def _run(d: AsyncDispatcher) -> int:
    return asyncio.run(d.run(asyncio.Event(), once=True))


def test_async_dispatch_retries_then_delivers_or_dead_letters(store: Store) -> None:
    now = [datetime(2026, 3, 1, tzinfo=UTC)]
    script: dict[str, list[int | str]] = {
        "m1": [503, 429, 200],
        "m2": [400],
        "m3": [500, 500, 500],
        "m4": ["sleep", 200],  # outlasts the 0.3 s timeout once
    }
    gw = Gateway(SECRET, script=script)
    with running(gw):
        ch = AsyncWebhookChannel("sms", url=gw.url, secret=SECRET, timeout_s=0.3, connections=4)
        policy = RetryPolicy(base_s=1, cap_s=10, max_attempts=3)
        d = AsyncDispatcher(store, {"sms": ch}, policy=policy, clock=lambda: now[0], batch=2)
        with store.session() as s:
            outbox.enqueue(
                s,
                [Message(f"m{i}", "sms", i, "c1", {"to": "x"}) for i in (1, 2, 3, 4, 5)],
                now=now[0],
            )
        for _ in range(4):
            _run(d)
            now[0] += timedelta(seconds=30)
        d.close()
    with store.session() as s:
        status = dict(s.execute(select(OutboxRow.key, OutboxRow.status)).all())
        kinds = s.scalars(
            select(ContactRow.kind).where(ContactRow.message_key == "m1").order_by(ContactRow.id)
        ).all()
    assert status == {"m1": "sent", "m2": "dead", "m3": "dead", "m4": "sent", "m5": "sent"}
    assert set(gw.delivered) == {"m1", "m4", "m5"}
    assert gw.calls["m1"] == 3 and gw.calls["m3"] == 3 and gw.calls["m2"] == 1
    assert list(kinds) == ["failed", "failed", "sent"]
    assert gw.bad_signatures == 0


def test_async_dispatch_suppresses_unsubscribed_and_sends_each_key_once(store: Store) -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    gw = Gateway(SECRET)
    with running(gw):
        ch = AsyncWebhookChannel("sms", url=gw.url, secret=SECRET, connections=8)
        d = AsyncDispatcher(store, {"sms": ch}, clock=lambda: now, batch=25, inflight=3)
        with store.session() as s:
            outbox.enqueue(
                s, [Message(f"k{i}", "sms", i, "c", {"to": "x"}) for i in range(300)], now=now
            )
            consent.set_consent(
                s, customer_id=7, channel="sms", allowed=False, source="test", now=now
            )
        assert _run(d) == 300
        d.close()
    with store.session() as s:
        by = dict(
            s.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all()
        )
        contacts = s.scalar(select(func.count()).select_from(ContactRow))
    assert by == {"sent": 299, "suppressed": 1}
    assert contacts == 300
    assert len(gw.delivered) == 299 and "k7" not in gw.delivered
    assert max(gw.calls.values()) == 1


def test_async_rate_limit_never_exceeded() -> None:
    # well inside what the in-process test gateway carries on a loaded machine: this
    # checks the limiter; bench/reach_webhook.py measures it at thousands per second
    gw = Gateway(SECRET)
    rate = 50.0
    with running(gw):
        ch = AsyncWebhookChannel(
            "sms", url=gw.url, secret=SECRET, bucket=TokenBucket(rate, 1), connections=16
        )

        async def go() -> None:
            msgs = [Outbound(f"r{i}", "sms", i, "c", {"to": "x"}) for i in range(200)]
            await asyncio.gather(*(ch.asend(m) for m in msgs))

        asyncio.run(go())
        ch.close()
    observed = sustained_rate(gw.arrivals)
    # Never above the rate, whatever the machine's load (the limiter's promise); below it
    # only by what a loaded machine costs — the accuracy at speed is bench/reach_webhook.py's
    # figure (5,001.6/s at 5,000/s), a timed test on a shared 2-core machine cannot hold 2 %.
    assert observed <= rate * 1.02, observed
    assert observed >= rate * 0.8, observed
