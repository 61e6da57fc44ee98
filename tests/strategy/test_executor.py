"""The executor against a real store and warehouse, checked against a pandas oracle."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sqlalchemy import func, select
from tests.strategy.helpers import NOW, journey_doc, make_warehouse

from opsloop.store import Store
from opsloop.strategy.calendar import BusinessCalendar
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import Ports, RunContext, enter, tick
from opsloop.strategy.journey import JourneyDefinition, validate_journey
from opsloop.strategy.models import CustomerState, OutboxRow, StepRow
from opsloop.strategy.policy import (
    CapRule,
    ContactPolicy,
    GlobalControl,
    QuietRule,
    SqlContactCounters,
    unit_hash,
)
from opsloop.strategy.ports import RecordingChannel
from opsloop.warehouse import Warehouse

N = 3000


@pytest.fixture
def env(tmp_path: Path) -> tuple[Store, Warehouse]:
    store = Store.open(f"sqlite:///{tmp_path}/ops.db")
    login = [(i, "app_login", NOW + dt.timedelta(hours=5)) for i in range(1, N + 1, 4)]
    wh = make_warehouse(tmp_path / "wh.duckdb", N, login)
    return store, wh


def _ports() -> Ports:
    rec = RecordingChannel()
    return Ports(messages=rec, benefits=rec, actions=rec, counters=SqlContactCounters())


POLICY = ContactPolicy(
    caps=(CapRule(channel="sms", max=2, per="week"),),
    global_control=GlobalControl(share=0.05),
)


def _frame(wh: Warehouse) -> pd.DataFrame:
    return wh.execute(wh.table("customers")).to_pandas()


def test_first_pass_matches_oracle(env: tuple[Store, Warehouse]) -> None:
    store, wh = env
    j = validate_journey(journey_doc())
    ctx = RunContext(now=NOW, entry_key="run-1", policy=POLICY)
    data = WarehouseData(wh, as_of=NOW)
    ids = np.arange(1, N + 1, dtype=np.int64)
    res = enter(
        sessions=store.session,
        journey=j,
        entry_node="entry",
        ids=ids,
        data=data,
        ports=_ports(),
        ctx=ctx,
        chunk=700,
    )
    # Oracle: pandas, from the definition.
    df = _frame(wh).set_index("customer_id").loc[ids]
    control = unit_hash(ids, "opsloop-global-control") < 0.05
    u = unit_hash(ids, "welcome/ab")
    rich = (df.income_monthly >= 10000).to_numpy() & ~control
    arm_a = rich & (u >= 0.1) & (u < 0.55)
    arm_b = rich & (u >= 0.55)
    ok = ~df.dnd.to_numpy()
    sms = arm_a & ok & df.consent_sms.to_numpy()
    push = arm_b & ok & df.consent_push.to_numpy()
    assert res.control == control.sum()
    assert res.stats["sms"]["sent"] == sms.sum()
    assert res.stats["push"]["sent"] == push.sum()
    with store.session() as s:
        out = s.execute(select(OutboxRow.customer_id, OutboxRow.channel)).all()
        waiting = s.execute(
            select(func.count()).where(
                CustomerState.status == "waiting", CustomerState.node_id == "login"
            )
        ).scalar_one()
        suppressed = s.execute(
            select(StepRow.reason, func.count())
            .where(StepRow.outcome == "suppressed")
            .group_by(StepRow.reason)
        ).all()
    got = {(c, ch) for c, ch in out}
    want = {(int(c), "sms") for c in ids[sms]} | {(int(c), "push") for c in ids[push]}
    assert got == want and len(out) == len(want)
    # sms blocked ones skip on (on_blocked skip) to the wait; push blocked ones exit.
    assert waiting == (arm_a.sum() + push.sum())
    assert dict(suppressed)["dnd"] == (rich & (u >= 0.1) & ~ok).sum()


def test_rerun_same_entry_key_enters_nobody_twice(env: tuple[Store, Warehouse]) -> None:
    store, wh = env
    j = validate_journey(journey_doc())
    ctx = RunContext(now=NOW, entry_key="run-1", policy=POLICY)
    ids = np.arange(1, N + 1, dtype=np.int64)
    kw = {
        "sessions": store.session,
        "journey": j,
        "entry_node": "entry",
        "ports": _ports(),
        "ctx": ctx,
    }
    first = enter(ids=ids, data=WarehouseData(wh, as_of=NOW), **kw)  # type: ignore[arg-type]
    again = enter(ids=ids, data=WarehouseData(wh, as_of=NOW), **kw)  # type: ignore[arg-type]
    assert first.entered > 0 and again.entered == 0 and again.skipped_reentry == N
    with store.session() as s:
        assert s.execute(select(func.count()).select_from(CustomerState)).scalar_one() == N


def test_ab_assignment_stable_and_balanced() -> None:
    ids = np.arange(1, 200_001, dtype=np.int64)
    u = unit_hash(ids, "j/ab")
    assert np.array_equal(u, unit_hash(ids.copy(), "j/ab"))  # stable across reruns
    counts = np.histogram(u, bins=[0, 0.1, 0.4, 0.7, 1.0])[0]
    expected = np.array([0.1, 0.3, 0.3, 0.3]) * len(ids)
    assert stats.chisquare(counts, expected).pvalue > 0.001
    other = unit_hash(ids, "j/ab2")
    # different node → independent assignment (contingency table chi-square)
    table = np.histogram2d(u, other, bins=[[0, 0.5, 1], [0, 0.5, 1]])[0]
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_ab_arms_through_the_executor_are_stable_across_reruns_and_balanced(
    tmp_path: Path,
) -> None:
    """The same journey run twice, into two fresh stores and in different chunk sizes,
    puts every customer in the same arm; the arms' sizes match the weights (chi-square)."""
    login = [(i, "app_login", NOW + dt.timedelta(hours=5)) for i in range(1, N + 1, 4)]
    wh = make_warehouse(tmp_path / "wh.duckdb", N, login)
    ids = np.arange(1, N + 1, dtype=np.int64)
    arms: list[dict[int, str]] = []
    for run, chunk in ((1, 700), (2, 333)):
        store = Store.open(f"sqlite:///{tmp_path}/ops{run}.db")
        enter(
            sessions=store.session,
            journey=validate_journey(journey_doc()),
            entry_node="entry",
            ids=ids,
            data=WarehouseData(wh, as_of=NOW),
            ports=_ports(),
            ctx=RunContext(now=NOW, entry_key=f"run-{run}", policy=POLICY),
            chunk=chunk,
        )
        with store.session() as s:
            rows = s.execute(
                select(CustomerState.customer_id, CustomerState.arm).where(
                    CustomerState.arm.is_not(None)
                )
            ).all()
        arms.append({int(c): str(a) for c, a in rows})
    assert arms[0] == arms[1] and len(arms[0]) > 500
    names = ["a", "b", "holdout"]  # journey_doc's A/B: holdout 10 %, then a and b 1:1
    assert set(arms[0].values()) == set(names)
    counts = np.array([sum(1 for a in arms[0].values() if a == n) for n in names])
    expected = np.array([0.45, 0.45, 0.10]) * counts.sum()
    assert stats.chisquare(counts, expected).pvalue > 0.001, dict(zip(names, counts, strict=True))


def test_tick_resumes_event_and_timeout(env: tuple[Store, Warehouse]) -> None:
    store, wh = env
    j = validate_journey(journey_doc())
    ids = np.arange(1, N + 1, dtype=np.int64)
    data = WarehouseData(wh, as_of=NOW)
    enter(
        sessions=store.session,
        journey=j,
        entry_node="entry",
        ids=ids,
        data=data,
        ports=_ports(),
        ctx=RunContext(now=NOW, entry_key="r", policy=POLICY),
    )
    with store.session() as s:
        waiting = {
            c
            for (c,) in s.execute(
                select(CustomerState.customer_id).where(CustomerState.status == "waiting")
            )
        }
    later = RunContext(now=NOW + dt.timedelta(hours=6), entry_key="r", policy=POLICY)
    stats1 = tick(sessions=store.session, journey=j, data=data, ports=_ports(), ctx=later)
    logged_in = {c for c in waiting if c % 4 == 1}
    assert stats1["login"]["branch:event"] == len(logged_in)
    assert stats1["thanks"]["done"] == len(logged_in)
    end = RunContext(now=NOW + dt.timedelta(days=3, hours=1), entry_key="r", policy=POLICY)
    stats2 = tick(sessions=store.session, journey=j, data=data, ports=_ports(), ctx=end)
    assert stats2["login"]["branch:timeout"] == len(waiting) - len(logged_in)
    with store.session() as s:
        assert (
            s.execute(select(func.count()).where(CustomerState.status == "waiting")).scalar_one()
            == 0
        )
        tags = s.execute(select(func.count()).where(OutboxRow.kind == "tag")).scalar_one()
    assert tags == len(logged_in)


def test_quiet_hours_defer_then_send(env: tuple[Store, Warehouse]) -> None:
    store, wh = env
    policy = ContactPolicy(
        quiet_hours=(QuietRule(channel="push", start=dt.time(21), end=dt.time(9)),),
        global_control=GlobalControl(share=0.0),
    )
    night = dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)  # 22:00 in Shanghai
    j = validate_journey(journey_doc())
    data = WarehouseData(wh, as_of=night)
    ids = np.arange(1, N + 1, dtype=np.int64)
    res = enter(
        sessions=store.session,
        journey=j,
        entry_node="entry",
        ids=ids,
        data=data,
        ports=_ports(),
        ctx=RunContext(now=night, entry_key="n", policy=policy),
    )
    held = res.stats["push"]["waiting"]
    assert held > 0 and "sent" not in res.stats["push"]
    with store.session() as s:
        due = (
            s.execute(select(CustomerState.due_at).where(CustomerState.node_id == "push"))
            .scalars()
            .first()
        )
    assert due is not None and due.replace(tzinfo=dt.UTC) == dt.datetime(
        2026, 11, 24, 1, 0, tzinfo=dt.UTC
    )
    morning = RunContext(
        now=dt.datetime(2026, 11, 24, 1, 5, tzinfo=dt.UTC), entry_key="n", policy=policy
    )
    out = tick(sessions=store.session, journey=j, data=data, ports=_ports(), ctx=morning)
    assert out["push"]["sent"] == held


def test_goal_reached_exits_before_the_next_step(env: tuple[Store, Warehouse]) -> None:
    store, wh = env
    goal = {"event": {"event": "app_login"}, "within": {"amount": 1, "unit": "days"}}
    j = validate_journey(journey_doc(goal=goal))
    data = WarehouseData(wh, as_of=NOW)
    ids = np.arange(1, N + 1, dtype=np.int64)
    ctx = RunContext(now=NOW, entry_key="g", policy=POLICY)
    enter(
        sessions=store.session,
        journey=j,
        entry_node="entry",
        ids=ids,
        data=data,
        ports=_ports(),
        ctx=ctx,
    )
    with store.session() as s:
        waiting = {
            c
            for (c,) in s.execute(
                select(CustomerState.customer_id).where(CustomerState.status == "waiting")
            )
        }
    later = RunContext(now=NOW + dt.timedelta(hours=6), entry_key="g", policy=POLICY)
    got = tick(sessions=store.session, journey=j, data=data, ports=_ports(), ctx=later)
    converted = {c for c in waiting if c % 4 == 1}
    assert got["login"]["goal_exit"] == len(converted) and "thanks" not in got
    with store.session() as s:
        rows = s.execute(
            select(CustomerState.customer_id).where(CustomerState.status == "converted")
        ).scalars()
        assert set(rows) == converted
        assert s.execute(select(func.count()).where(OutboxRow.kind == "tag")).scalar_one() == 0


def _simple(nodes: list[dict[str, object]], jid: str = "s") -> JourneyDefinition:
    edges = [{"from": a["id"], "to": b["id"]} for a, b in itertools.pairwise(nodes)]
    return validate_journey({"id": jid, "name": jid, "nodes": nodes, "edges": edges})


def test_wait_until_next_business_morning(env: tuple[Store, Warehouse]) -> None:
    store, wh = env
    cal = BusinessCalendar(holidays=frozenset({dt.date(2026, 11, 24)}))  # Tuesday off
    j = _simple(
        [
            {"id": "e", "kind": "api_entry", "config": {}},
            {"id": "w", "kind": "wait", "config": {"until": "09:00", "business_day": True}},
            {"id": "t", "kind": "tag", "config": {"op": "add", "tag": "x"}},
        ]
    )
    ctx = RunContext(
        now=NOW,
        entry_key="b",
        policy=ContactPolicy(global_control=GlobalControl(share=0)),
        calendar=cal,
    )
    data = WarehouseData(wh, as_of=NOW)
    enter(
        sessions=store.session,
        journey=j,
        entry_node="e",
        ids=np.arange(1, 11),
        data=data,
        ports=_ports(),
        ctx=ctx,
    )
    with store.session() as s:
        dues = set(s.execute(select(CustomerState.due_at)).scalars())
    # Monday 10:00 Shanghai → Tuesday is a holiday → Wednesday 09:00 Shanghai = 01:00 UTC
    assert {d.replace(tzinfo=dt.UTC) for d in dues} == {
        dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)
    }


def test_on_blocked_wait_retries_when_the_cap_frees(env: tuple[Store, Warehouse]) -> None:
    store, wh = env
    policy = ContactPolicy(
        caps=(CapRule(channel="push", max=1, per="day"),), global_control=GlobalControl(share=0)
    )
    send = {
        "id": "p",
        "kind": "send_message",
        "config": {"channel": "push", "template_id": "t", "marketing": True},
        "on_blocked": {"action": "wait", "deadline": {"amount": 3, "unit": "days"}},
    }
    first = _simple([{"id": "e", "kind": "api_entry", "config": {}}, send], "first")
    second = _simple([{"id": "e", "kind": "api_entry", "config": {}}, send], "second")
    data = WarehouseData(wh, as_of=NOW)
    ids = np.arange(1, 201, dtype=np.int64)
    ctx = RunContext(now=NOW, entry_key="k", policy=policy)
    a = enter(
        sessions=store.session,
        journey=first,
        entry_node="e",
        ids=ids,
        data=data,
        ports=_ports(),
        ctx=ctx,
    )
    b = enter(
        sessions=store.session,
        journey=second,
        entry_node="e",
        ids=ids,
        data=data,
        ports=_ports(),
        ctx=ctx,
    )
    sent = a.stats["p"]["sent"]
    held = b.stats["p"]["waiting"]  # all capped ones (and the consent/DND ones) are held
    assert "sent" not in b.stats["p"] and b.stats["p"]["suppressed:capped"] == sent
    assert (
        held == 200 == sent + b.stats["p"]["suppressed:dnd"] + b.stats["p"]["suppressed:no_consent"]
    )
    tomorrow = RunContext(now=NOW + dt.timedelta(days=1, minutes=1), entry_key="k", policy=policy)
    got = tick(sessions=store.session, journey=second, data=data, ports=_ports(), ctx=tomorrow)
    assert got["p"]["sent"] == sent  # a new day: the held contacts go out, once each
    with store.session() as s:
        rows = (
            s.execute(select(OutboxRow.customer_id).where(OutboxRow.journey_id == "second"))
            .scalars()
            .all()
        )
    assert len(rows) == len(set(rows)) == sent
