"""Slots filled from running journeys and activities, withdrawn when they stop or the
customer's state changes (SQLite and PostgreSQL).

Journey side: Strategy's sink (``ReachSink.send``, what a send node calls) puts messages
on the ``slot`` channel into Reach's outbox; the dispatcher hands them to
``SlotChannel``, which lands one assignment per key. The index is compared with a
brute-force choice over the raw rows for random mixes of sources and states.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select, update

from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.activity.models import ActivityRow, Participation
from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.reach import outbox, service
from opsloop.reach.channels.base import Outbound
from opsloop.reach.dispatch import Dispatcher
from opsloop.reach.models import OutboxRow, SlotAssignmentRow
from opsloop.reach.slots import Refresher, SlotChannel, SlotIndex
from opsloop.store import Store
from opsloop.strategy.models import CustomerState, JourneyRow
from opsloop.strategy.ports import StepBatch
from opsloop.strategy.sinks import ReachSink

NOW = datetime.now(UTC)


def _journey(store: Store, jid: str, status: str = "running") -> None:
    with store.session() as s:
        s.add(
            JourneyRow(
                journey_id=jid, name=jid, status=status, latest_version=1,
                running_version=1, created_by="t",
            )
        )  # fmt: skip


def _set_journey(store: Store, jid: str, status: str) -> None:
    with store.session() as s:
        s.execute(update(JourneyRow).where(JourneyRow.journey_id == jid).values(status=status))


def _state(store: Store, jid: str, cid: int, visit: int, status: str) -> None:
    with store.session() as s:
        row = s.scalar(
            select(CustomerState).where(
                CustomerState.journey_id == jid,
                CustomerState.customer_id == cid,
                CustomerState.visit == visit,
            )
        )
        if row is None:
            s.add(
                CustomerState(
                    journey_id=jid, version=1, customer_id=cid, visit=visit,
                    entry_key=f"e{visit}", node_id="banner", status=status, since=NOW,
                    entered_at=NOW,
                )
            )  # fmt: skip
        else:
            row.status = status


def _activity(store: Store, aid: str, status: str = "running") -> None:
    with store.session() as s:
        s.add(
            ActivityRow(
                activity_id=aid, name=aid, template="coupon_drop", status=status,
                definition={}, created_by="t",
            )
        )  # fmt: skip


def _set_activity(store: Store, aid: str, status: str) -> None:
    with store.session() as s:
        s.execute(update(ActivityRow).where(ActivityRow.activity_id == aid).values(status=status))


def _participate(store: Store, aid: str, cid: int) -> None:
    with store.session() as s:
        s.add(
            Participation(
                activity_id=aid, customer_id=cid, action="claim", day="2026-11-24",
                outcome="issued", at=NOW,
            )
        )  # fmt: skip


def _journey_banner(
    store: Store, jid: str, ids: list[int], *, slot: str, title: str, priority: int, visit: int = 1
) -> None:
    """What a journey's send node on the ``slot`` channel does, through Strategy's sink."""
    batch = StepBatch(
        journey_id=jid,
        version=1,
        node_id="banner",
        customer_ids=np.array(ids, dtype=np.int64),
        visits=np.full(len(ids), visit, dtype=np.int64),
        at=NOW,
    )
    payload = {"slot": slot, "title": title, "priority": priority, "link": "https://b.example/x"}
    with store.session() as s:
        ReachSink().send(s, batch, channel="slot", payload=payload)


def _dispatch(store: Store) -> None:
    d = Dispatcher(store, {"slot": SlotChannel("slot", store)})
    while d.run_once():
        pass
    d.close()


def _content(
    store: Store,
    slot: str,
    title: str,
    priority: int,
    *,
    who: list[int] | None = None,
    activity: str | None = None,
    hide: bool = False,
    ends: datetime | None = None,
) -> int:
    body = service.SlotContentIn(
        slot=slot,
        title=title,
        priority=priority,
        customer_ids=who,
        starts_at=NOW - timedelta(hours=1),
        ends_at=ends or NOW + timedelta(hours=1),
        activity_id=activity,
        hide_participants=hide,
    )
    return service.add_slot_content(store, principal=LOCAL_OPERATOR, body=body, now=NOW)


def _title(index: SlotIndex, slot: str, cid: int) -> str | None:
    c = index.best(slot, cid)
    return None if c is None else c.title


def test_journey_and_activity_banners_follow_their_state(store: Store) -> None:
    index = SlotIndex(store)
    _content(store, "home", "通用", 1)
    _journey(store, "wealth")
    for cid in (1, 2, 3):
        _state(store, "wealth", cid, 1, "waiting")
    _journey_banner(store, "wealth", [1, 2, 3], slot="home", title="理财专享", priority=5)
    _journey_banner(store, "wealth", [1, 2, 3], slot="home", title="理财专享", priority=5)  # replay
    _dispatch(store)
    with store.session() as s:
        assert len(s.scalars(select(SlotAssignmentRow)).all()) == 3  # one per key
    _activity(store, "coupon")
    _content(store, "home", "领券", 3, activity="coupon", hide=True)
    index.refresh()
    assert [_title(index, "home", c) for c in (1, 2, 3, 4)] == ["理财专享"] * 3 + ["领券"]
    assert index.answer("home", 1)["content"]["source"] == "journey:wealth"
    assert index.answer("home", 4)["content"]["source"] == "activity:coupon"

    _state(store, "wealth", 2, 1, "exited")  # customer 2 left the journey (goal, exit node)
    _state(store, "wealth", 3, 1, "done")  # customer 3 reached the end: keeps it
    _participate(store, "coupon", 4)  # customer 4 took the coupon: its banner goes
    index.refresh()
    assert [_title(index, "home", c) for c in (1, 2, 3, 4, 5)] == [
        "理财专享", "领券", "理财专享", "通用", "领券",
    ]  # fmt: skip

    _set_journey(store, "wealth", "paused")
    index.refresh()
    assert [_title(index, "home", c) for c in (1, 3, 5)] == ["领券", "领券", "领券"]
    _set_journey(store, "wealth", "running")
    _set_activity(store, "coupon", "finished")
    index.refresh()
    assert [_title(index, "home", c) for c in (1, 3, 5)] == ["理财专享", "理财专享", "通用"]
    _set_journey(store, "wealth", "finished")

    # The refresher a serving process runs picks a change up within its period.
    index.refresh()
    _set_activity(store, "coupon", "running")
    refresher = Refresher(index, every_s=0.05)
    try:
        deadline = time.monotonic() + 10
        while _title(index, "home", 5) != "领券" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        refresher.stop()
    assert _title(index, "home", 5) == "领券"
    assert _title(index, "home", 1) == "领券"  # the finished journey's banner stays gone


def test_bad_slot_messages_are_dead_lettered_with_the_field(store: Store) -> None:
    ch = SlotChannel("slot", store)
    key = outbox.journey_key("j1", 1, "n", 7, 1)
    good = {"slot": "home", "title": "t", "journey_id": "j1", "version": 1}
    assert ch.send(Outbound(key, "slot", 7, "j1", good)).outcome == "sent"
    assert ch.send(Outbound(key, "slot", 7, "j1", good)).outcome == "sent"  # once stored
    for payload, field in (
        (good | {"slot": "Bad Slot"}, "payload.slot"),
        (good | {"title": ""}, "payload.title"),
        (good | {"priority": "high"}, "payload.priority"),
        (good | {"hours": 0}, "hours"),
        ({k: v for k, v in good.items() if k != "journey_id"}, "payload.journey_id"),
    ):
        r = ch.send(Outbound(key[:-1] + "2", "slot", 7, "j1", payload))
        assert r.outcome == "dead" and r.error is not None and field in r.error, payload
    r = ch.send(Outbound("c:camp:slot:7", "slot", 7, "camp", good))
    assert r.outcome == "dead" and r.error is not None and r.error.startswith("key")
    with store.session() as s:
        assert s.scalars(select(SlotAssignmentRow.message_key)).all() == [key]
        assert s.scalars(select(OutboxRow)).all() == []


def test_activity_banner_input_is_checked(store: Store) -> None:
    with pytest.raises(NotFoundError) as e:
        _content(store, "home", "x", 1, activity="nope")
    assert e.value.where == "activity_id"
    with pytest.raises(InvalidInputError) as e2:
        _content(store, "home", "x", 1, hide=True)
    assert e2.value.where == "hide_participants"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_index_matches_a_brute_force_choice(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    slots, customers = ["home", "card"], list(range(1, 16))
    journeys = {f"j{i}": rng.choice(["running", "running", "paused", "finished"]) for i in range(3)}
    activities = {f"a{i}": rng.choice(["running", "running", "paused"]) for i in range(3)}
    for jid, st in journeys.items():
        _journey(store, jid, st)
    for aid, st in activities.items():
        _activity(store, aid, st)
    contents: list[dict[str, object]] = []
    for n in range(12):
        c: dict[str, object] = {
            "slot": rng.choice(slots),
            "title": f"c{n}",
            "priority": rng.randrange(-3, 4),
            "who": rng.choice([None, rng.sample(customers, 5)]),
            "activity": rng.choice([None, None, *activities]),
            "ends": NOW + timedelta(hours=1) if rng.random() < 0.8 else NOW - timedelta(minutes=5),
        }
        c["hide"] = c["activity"] is not None and rng.random() < 0.5
        if c["ends"] < NOW:  # type: ignore[operator]
            body_start = NOW - timedelta(hours=2)
            svc = service.SlotContentIn(
                slot=str(c["slot"]), title=str(c["title"]), priority=int(c["priority"]),  # type: ignore[call-overload]
                starts_at=body_start, ends_at=c["ends"],  # type: ignore[arg-type]
            )  # fmt: skip
            c["id"] = service.add_slot_content(store, principal=LOCAL_OPERATOR, body=svc, now=NOW)
        else:
            c["id"] = _content(
                store, str(c["slot"]), str(c["title"]), int(c["priority"]),  # type: ignore[call-overload]
                who=c["who"], activity=c["activity"], hide=bool(c["hide"]),  # type: ignore[arg-type]
            )  # fmt: skip
        contents.append(c)
    took_part = {(rng.choice(list(activities)), rng.choice(customers)) for _ in range(10)}
    for aid, cid in took_part:
        _participate(store, aid, cid)
    exits: set[tuple[str, int]] = set()
    for jid in journeys:
        ids = rng.sample(customers, 8)
        for cid in ids:
            st = rng.choice(["waiting", "done", "exited"])
            _state(store, jid, cid, 1, st)
            if st == "exited":
                exits.add((jid, cid))
        _journey_banner(
            store, jid, ids, slot=rng.choice(slots), title=f"{jid}", priority=rng.randrange(-3, 4)
        )
    _dispatch(store)
    index = SlotIndex(store)
    index.refresh()
    with store.session() as s:
        assigned = s.scalars(select(SlotAssignmentRow)).all()

    for slot in slots:
        for cid in customers:
            cands: list[tuple[int, int, int, str]] = []
            for c in contents:
                aid = c["activity"]
                if (
                    c["slot"] == slot
                    and c["ends"] > NOW  # type: ignore[operator]
                    and (c["who"] is None or cid in c["who"])  # type: ignore[operator]
                    and (aid is None or activities[str(aid)] == "running")
                    and not (c["hide"] and (aid, cid) in took_part)
                ):
                    cands.append((int(c["priority"]), 0, -int(c["id"]), str(c["title"])))  # type: ignore[call-overload]
            for a in assigned:
                if (
                    a.slot == slot
                    and a.customer_id == cid
                    and journeys[a.journey_id] == "running"
                    and (a.journey_id, cid) not in exits
                ):
                    cands.append((a.priority, 1, -a.id, a.title))
            want = max(cands)[3] if cands else None
            assert _title(index, slot, cid) == want, (slot, cid, cands)


def test_refresh_reads_what_is_new_and_catches_late_rows(store: Store) -> None:
    """Refreshes after the first read only what changed (new ids, moved counts); a row
    committed late below the last id seen makes the counts disagree: a full rebuild."""
    index = SlotIndex(store)
    assert index.refresh() == 0
    _journey(store, "j")
    _journey_banner(store, "j", [1, 2], slot="home", title="first", priority=1)
    _dispatch(store)
    index.refresh()
    full_at = index._full_at
    assert [_title(index, "home", c) for c in (1, 2, 3)] == ["first", "first", None]
    _journey_banner(store, "j", [2, 3], slot="home", title="second", priority=2, visit=2)
    _dispatch(store)
    index.refresh()
    assert index._full_at == full_at  # incremental
    assert [_title(index, "home", c) for c in (1, 2, 3)] == ["first", "second", "second"]
    with store.session() as s:  # "late": an id below every id already read
        s.add(
            SlotAssignmentRow(
                id=-7, message_key="j:j:1:late:4:1", slot="home", customer_id=4,
                journey_id="j", version=1, visit=1, title="late", priority=0,
                starts_at=NOW - timedelta(minutes=1), ends_at=NOW + timedelta(hours=1),
                created_at=NOW,
            )
        )  # fmt: skip
    index.refresh()
    assert index._full_at != full_at  # counts disagreed: rebuilt
    assert _title(index, "home", 4) == "late"
    _state(store, "j", 2, 2, "exited")  # visit 2 of customer 2 exits: its banner goes
    index.refresh()
    assert [_title(index, "home", c) for c in (1, 2, 3)] == ["first", "first", "second"]
    _state(store, "j", 1, 1, "exited")
    index.refresh()
    assert [_title(index, "home", c) for c in (1, 2, 3)] == [None, "first", "second"]
    # Expired banners leave memory at the next prune, without a rebuild.
    full_at = index._full_at
    index.clock = lambda: NOW + timedelta(hours=30)  # past every banner's 24 h
    index._pruned_at = NOW - timedelta(days=1)
    index.refresh()
    assert index._full_at == full_at
    assert index._assigned == {"home": {}}
