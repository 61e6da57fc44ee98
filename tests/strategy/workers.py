"""Subprocess entry points (spawned by the concurrency and crash tests)."""

from __future__ import annotations

import datetime as dt
import sys

import numpy as np
from tests.strategy.helpers import NOW, ArrayData, journey_doc, send_journey

from opsloop.store import Store
from opsloop.strategy.executor import Ports, RunContext, enter
from opsloop.strategy.journey import validate_journey
from opsloop.strategy.policy import (
    CapRule,
    ContactCounters,
    ContactPolicy,
    GlobalControl,
    RedisContactCounters,
    SqlContactCounters,
)
from opsloop.strategy.ports import RecordingChannel

POLICY = ContactPolicy(
    caps=(CapRule(channel="sms", max=2, per="week"), CapRule(channel="sms", max=1, per="day")),
    global_control=GlobalControl(share=0.05),
)


def run_send(db_url: str, redis_url: str | None, jid: str, n: int, day: int) -> None:
    """One journey sending SMS to customers 1..n on day ``day`` of the test week."""
    store = Store.open(db_url, migrate=False)
    counters: ContactCounters = (
        RedisContactCounters(redis_url) if redis_url else SqlContactCounters()
    )
    rec = RecordingChannel()
    now = NOW + dt.timedelta(days=day)
    enter(
        sessions=store.session,
        journey=validate_journey(send_journey(jid)),
        entry_node="entry",
        ids=np.arange(1, n + 1, dtype=np.int64),
        data=ArrayData(n),
        ports=Ports(rec, rec, rec, counters),
        ctx=RunContext(now=now, entry_key=f"d{day}", policy=POLICY),
        chunk=97,
    )
    store.engine.dispose()


def run_welcome(db_url: str, n: int, chunk: int) -> None:
    """The welcome journey over customers 1..n in small chunks (killed mid-run by a test)."""
    store = Store.open(db_url, migrate=False)
    rec = RecordingChannel()
    enter(
        sessions=store.session,
        journey=validate_journey(journey_doc()),
        entry_node="entry",
        ids=np.arange(1, n + 1, dtype=np.int64),
        data=ArrayData(n),
        ports=Ports(rec, rec, rec, SqlContactCounters()),
        ctx=RunContext(now=NOW, entry_key="run-1", policy=POLICY),
        chunk=chunk,
    )


if __name__ == "__main__":
    if sys.argv[1] == "welcome":
        run_welcome(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
