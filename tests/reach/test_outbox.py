"""The outbox against real SQLite and PostgreSQL: unique keys, leases, results."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from opsloop.reach import consent, outbox
from opsloop.reach.channels.base import Outbound, SendResult
from opsloop.reach.dispatch import Dispatcher
from opsloop.reach.models import ContactRow, OutboxRow
from opsloop.reach.outbox import Message, Result
from opsloop.reach.retry import RetryPolicy
from opsloop.store import Store

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def msgs(n: int, channel: str = "sms", start: int = 0) -> list[Message]:
    return [
        Message(
            outbox.journey_key("welcome", 1, "n3", c, 1), channel, c, "welcome", {"to": f"c{c}"}
        )
        for c in range(start, start + n)
    ]


def test_the_same_key_twice_is_a_no_op(store: Store) -> None:
    with store.session() as s:
        assert len(outbox.enqueue(s, msgs(5), now=NOW)) == 5
    with store.session() as s:
        assert outbox.enqueue(s, msgs(7), now=NOW) == [m.key for m in msgs(7)[5:]]
        assert s.scalar(select(func.count()).select_from(OutboxRow)) == 7


def test_keys_name_the_node_visit() -> None:
    assert outbox.journey_key("j", 2, "n1", 42, 3) == "j:j:2:n1:42:3"
    assert outbox.activity_key("act", "cp1", 42, "issue-1") == "a:act:cp1:42:issue-1"


def test_a_lease_excludes_others_until_it_expires(store: Store) -> None:
    with store.session() as s:
        outbox.enqueue(s, msgs(10), now=NOW)
    first = outbox.claim(store, now=NOW, limit=6, lease=timedelta(seconds=30))
    second = outbox.claim(store, now=NOW, limit=10, lease=timedelta(seconds=30))
    assert len(first) == 6 and len(second) == 4
    assert not {c.id for c in first} & {c.id for c in second}
    assert outbox.claim(store, now=NOW + timedelta(seconds=29), limit=10) == []
    again = outbox.claim(store, now=NOW + timedelta(seconds=31), limit=10)
    assert {c.id for c in again} == {c.id for c in first} | {c.id for c in second}
    assert all(c.message.attempt == 2 for c in again)
    # the old lease holder can no longer record its result
    stale = [Result(c.id, c.token, "sent") for c in first]
    assert outbox.complete(store, stale, now=NOW) == 0
    fresh = [Result(c.id, c.token, "sent", provider_id="p") for c in again]
    assert outbox.complete(store, fresh, now=NOW) == 10
    assert outbox.counts(store) == {"sent": 10}


def test_concurrent_claimers_never_share_a_row(store: Store) -> None:
    with store.session() as s:
        outbox.enqueue(s, msgs(400), now=NOW)
    got: list[list[int]] = []
    lock = threading.Lock()

    def worker() -> None:
        mine: list[int] = []
        while batch := outbox.claim(store, now=NOW, limit=17):
            mine += [c.id for c in batch]
        with lock:
            got.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for mine in got for i in mine]
    assert len(ids) == 400 and len(set(ids)) == 400


class Flaky:
    """A channel that fails transiently ``fails`` times per key, then sends."""

    name = "sms"

    def __init__(self, fails: int, outcome: str = "retry") -> None:
        self.fails, self.outcome, self.seen = fails, outcome, 0

    def send(self, msg: Outbound) -> SendResult:
        self.seen += 1
        if msg.attempt <= self.fails:
            return SendResult("retry" if self.outcome == "retry" else "dead", error="HTTP 503")
        return SendResult("sent", provider_id=msg.key, cost=0.04)

    def close(self) -> None:
        return None


def test_retries_back_off_then_dead_letter(store: Store) -> None:
    clock = [NOW]
    policy = RetryPolicy(base_s=10, cap_s=60, max_attempts=3, jitter=0.5)
    d = Dispatcher(store, {"sms": Flaky(fails=5)}, policy=policy, clock=lambda: clock[0])
    with store.session() as s:
        outbox.enqueue(s, msgs(1), now=NOW)
    assert d.run_once() == 1
    with store.session() as s:
        row = s.scalars(select(OutboxRow)).one()
        wait = (row.next_attempt_at.replace(tzinfo=UTC) - NOW).total_seconds()
        assert row.status == "retry" and 5 <= wait <= 10
    assert d.run_once() == 0  # not due yet
    clock[0] = NOW + timedelta(seconds=11)
    assert d.run_once() == 1
    clock[0] = NOW + timedelta(seconds=40)
    assert d.run_once() == 1
    with store.session() as s:
        row = s.scalars(select(OutboxRow)).one()
        assert row.status == "dead" and row.attempts == 3
        kinds = s.scalars(select(ContactRow.kind).order_by(ContactRow.id)).all()
    assert kinds == ["failed", "failed", "dead"]
    d.close()


def test_success_records_cost_and_contact(store: Store) -> None:
    d = Dispatcher(store, {"sms": Flaky(fails=0)}, clock=lambda: NOW)
    with store.session() as s:
        outbox.enqueue(s, msgs(3), now=NOW)
    assert d.run_once() == 3
    with store.session() as s:
        assert s.scalar(select(func.sum(OutboxRow.cost))) == 3 * 0.04
        assert s.scalar(select(func.count()).where(ContactRow.kind == "sent")) == 3
    d.close()


def test_an_unsubscribe_suppresses_messages_already_queued(store: Store) -> None:
    ch = Flaky(fails=0)
    d = Dispatcher(store, {"sms": ch}, clock=lambda: NOW)
    with store.session() as s:
        outbox.enqueue(s, msgs(3), now=NOW)
        consent.set_consent(s, customer_id=1, channel="sms", allowed=False, source="t", now=NOW)
        consent.set_consent(s, customer_id=2, channel="*", allowed=False, source="t", now=NOW)
    d.run_once()
    assert ch.seen == 1
    with store.session() as s:
        rows = dict(s.execute(select(OutboxRow.customer_id, OutboxRow.status)).all())
        reasons = s.scalars(select(ContactRow.reason).where(ContactRow.kind == "suppressed")).all()
    assert rows == {0: "sent", 1: "suppressed", 2: "suppressed"}
    assert all("unsubscribed" in (r or "") for r in reasons) and len(reasons) == 2
    d.close()


def test_a_mixed_batch_is_recorded_row_for_row(store: Store) -> None:
    """Every outcome in one batch (SQLite: three statements; PostgreSQL: one), plus a
    result whose lease was lost: each row and contact exactly as a per-row update would."""
    with store.session() as s:
        outbox.enqueue(s, msgs(6), now=NOW)
    old = outbox.claim(store, now=NOW, limit=1, lease=timedelta(seconds=5))
    later = NOW + timedelta(seconds=10)
    got = outbox.claim(store, now=later, limit=10)
    by = {c.message.customer_id: c for c in got}
    assert len(by) == 6
    nxt = later + timedelta(minutes=3)
    results = [
        Result(by[0].id, by[0].token, "sent", provider_id="p0", cost=0.5),
        Result(by[1].id, by[1].token, "dead", error="HTTP 400"),
        Result(by[2].id, by[2].token, "retry", error="HTTP 503", next_attempt_at=nxt),
        Result(by[3].id, by[3].token, "suppressed", error="consent withdrawn"),
        Result(by[4].id, by[4].token, "sent", provider_id="p4"),
        Result(old[0].id, old[0].token, "sent", provider_id="stale"),  # lease lost
    ]
    assert outbox.complete(store, results, now=later) == 5
    with store.session() as s:
        rows = {r.customer_id: r for r in s.scalars(select(OutboxRow))}
        contacts = s.execute(
            select(
                ContactRow.customer_id, ContactRow.kind, ContactRow.reason, ContactRow.message_key
            )
        ).all()
    want = {
        0: ("sent", "p0", 0.5, None, True),
        1: ("dead", None, 0.0, "HTTP 400", True),
        2: ("retry", None, 0.0, "HTTP 503", False),
        3: ("suppressed", None, 0.0, "consent withdrawn", True),
        4: ("sent", "p4", 0.0, None, True),
        5: ("sending", None, 0.0, None, False),
    }
    for cid, (status, pid, cost, err, done) in want.items():
        r = rows[cid]
        assert (r.status, r.provider_id, r.cost, r.last_error) == (status, pid, cost, err), cid
        assert (r.done_at is not None) == done, cid
        assert (r.lease_token is None) == (cid != 5), cid
    assert rows[2].next_attempt_at.replace(tzinfo=UTC) == nxt
    assert sorted((c, k, why) for c, k, why, _ in contacts) == [
        (0, "sent", None), (1, "dead", "HTTP 400"), (2, "failed", "HTTP 503"),
        (3, "suppressed", "consent withdrawn"), (4, "sent", None),
    ]  # fmt: skip
    assert {key for *_, key in contacts} == {rows[c].key for c in range(5)}
