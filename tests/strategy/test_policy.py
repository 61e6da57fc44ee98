"""The contact policy: pure decisions, and caps that hold across concurrent journeys.

Concurrency is tested against real PostgreSQL (threads, SQL guarded upserts) and real
Redis (processes, Lua); every recorded send in the outbox is counted afterwards.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.strategy.helpers import ArrayData
from tests.strategy.workers import run_send

from opsloop.store import Store
from opsloop.strategy.models import OutboxRow
from opsloop.strategy.policy import (
    CapRule,
    ContactPolicy,
    QuietRule,
    eligible,
    period_key,
    quiet_until,
    unit_hash,
)


def test_consent_and_dnd_block_marketing_only() -> None:
    consent = np.array([True, False, True, False])
    dnd = np.array([False, False, True, True])
    assert list(eligible(marketing=True, consent=consent, dnd=dnd)) == [
        "",
        "no_consent",
        "dnd",
        "dnd",
    ]
    assert list(eligible(marketing=False, consent=consent, dnd=dnd)) == ["", "", "", ""]


def test_quiet_hours_span_midnight_in_bank_zone() -> None:
    p = ContactPolicy(quiet_hours=(QuietRule(channel="sms", start=dt.time(21), end=dt.time(8)),))
    late = dt.datetime(2026, 11, 23, 15, 0, tzinfo=dt.UTC)  # 23:00 Shanghai
    early = dt.datetime(2026, 11, 23, 23, 0, tzinfo=dt.UTC)  # 07:00 next day Shanghai
    day = dt.datetime(2026, 11, 23, 4, 0, tzinfo=dt.UTC)  # 12:00
    assert quiet_until(p, "sms", late) == dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC)
    assert quiet_until(p, "sms", early) == dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC)
    assert quiet_until(p, "sms", day) is None
    assert quiet_until(p, "push", late) is None


def test_periods_and_priorities() -> None:
    zone = ContactPolicy().zone()
    sunday_night = dt.datetime(2026, 11, 29, 17, 0, tzinfo=dt.UTC)  # Monday 01:00 Shanghai
    assert period_key(sunday_night, "week", zone) == "2026-W49"
    assert period_key(sunday_night, "day", zone) == "2026-11-30"
    rule = CapRule(channel="sms", max=3, per="week", reserved=1, priority_min=5)
    assert rule.cap_for(9) == 3 and rule.cap_for(0) == 2


def test_global_control_share_is_stable() -> None:
    ids = np.arange(1, 100_001, dtype=np.int64)
    share = (unit_hash(ids, "opsloop-global-control") < 0.05).mean()
    assert 0.045 < share < 0.055


def _sends(store: Store, jids: list[str]) -> pd.DataFrame:
    with store.session() as s:
        rows = s.execute(
            select(OutboxRow.customer_id, OutboxRow.at, OutboxRow.journey_id).where(
                OutboxRow.journey_id.in_(jids)
            )
        ).all()
    df = pd.DataFrame(rows, columns=["customer_id", "at", "journey_id"])
    local = pd.to_datetime(df["at"], utc=True).dt.tz_convert("Asia/Shanghai")
    df["day"] = local.dt.date
    return df


def _eligible(n: int) -> np.ndarray:  # type: ignore[type-arg]
    d = ArrayData(n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    control = unit_hash(ids, "opsloop-global-control") < 0.05
    return d.cols["consent_sms"] & ~d.cols["dnd"] & ~control  # type: ignore[no-any-return]


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    n=st.integers(20, 150),
    days=st.lists(st.integers(0, 3), min_size=2, max_size=6),
)
def test_caps_hold_across_concurrent_journeys_pg(pg_url: str, n: int, days: list[int]) -> None:
    store = Store.open(pg_url)
    week = test_caps_hold_across_concurrent_journeys_pg.calls = (
        getattr(  # type: ignore[attr-defined]
            test_caps_hold_across_concurrent_journeys_pg, "calls", 0
        )
        + 1
    )
    jids = [f"w{week}j{i}" for i in range(len(days))]
    with ThreadPoolExecutor(len(days)) as pool:
        futures = [
            pool.submit(run_send, pg_url, None, jid, n, 7 * week + d)
            for jid, d in zip(jids, days, strict=True)
        ]
        for f in futures:
            f.result()
    df = _sends(store, jids)
    per_day = df.groupby(["customer_id", "day"]).size()
    assert per_day.max() <= 1 if len(df) else True
    per_week = df.groupby("customer_id").size().reindex(range(1, n + 1), fill_value=0).to_numpy()
    ok = _eligible(n)
    assert (per_week[~ok] == 0).all()  # consent, DND, global control: never contacted
    # every eligible customer got exactly what the caps allow: min(2/week, distinct days tried)
    assert (per_week[ok] == min(2, len(set(days)))).all()
    store.engine.dispose()


@pytest.mark.slow
def test_caps_hold_across_processes_redis(pg_url: str, redis_url: str) -> None:
    store = Store.open(pg_url)
    n, jids = 300, [f"r{i}" for i in range(4)]
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=run_send, args=(pg_url, redis_url, jid, n, i % 2))
        for i, jid in enumerate(jids)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    df = _sends(store, jids)
    assert df.groupby(["customer_id", "day"]).size().max() == 1
    per_week = df.groupby("customer_id").size().reindex(range(1, n + 1), fill_value=0).to_numpy()
    ok = _eligible(n)
    assert (per_week[~ok] == 0).all() and (per_week[ok] == 2).all()
    store.engine.dispose()


@pytest.mark.parametrize("cap", [1, 3])
def test_sql_counters_refuse_beyond_cap_sqlite(tmp_path: object, cap: int) -> None:
    from opsloop.strategy.policy import SqlContactCounters

    store = Store.open(f"sqlite:///{tmp_path}/c.db")
    ids = np.arange(1, 51, dtype=np.int64)
    counters = SqlContactCounters()
    granted = np.zeros(len(ids), dtype=int)
    for _ in range(cap + 2):
        with store.session() as s:
            granted += counters.reserve(s, ids, [("sms/week/x/", cap), ("sms/day/y/", cap + 1)])
    assert (granted == cap).all()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    ids=st.lists(st.integers(1, 8), min_size=1, max_size=30),
    caps=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    used=st.dictionaries(st.integers(1, 8), st.integers(0, 4), max_size=8),
)
def test_sql_counters_match_a_one_by_one_oracle(
    tmp_path: object, ids: list[int], caps: tuple[int, int], used: dict[int, int]
) -> None:
    """Set-based reserve == granting each position in turn (repeats, two rules, undo)."""
    from opsloop.strategy.models import ContactCount
    from opsloop.strategy.policy import SqlContactCounters

    store = Store.open(f"sqlite:///{tmp_path}/o.db")
    try:
        with store.session() as s:
            s.query(ContactCount).delete()
            for cid, u in used.items():  # the week's rule already partly used
                s.add(ContactCount(scope="w/", customer_id=cid, used=u))
        week, day = caps
        with store.session() as s:
            got = SqlContactCounters().reserve(
                s, np.array(ids, dtype=np.int64), [("w/", week), ("d/", day)]
            )
            rows = s.query(ContactCount.scope, ContactCount.customer_id, ContactCount.used)
            after = {(sc, c): u for sc, c, u in rows}
        # oracle: repeats of a customer are granted in rounds (first occurrences first)
        w = {c: used.get(c, 0) for c in set(ids)}
        d = dict.fromkeys(set(ids), 0)
        want = [False] * len(ids)
        order = sorted(range(len(ids)), key=lambda i: (ids[:i].count(ids[i]), i))
        for i in order:
            c = ids[i]
            if w[c] + 1 <= week and d[c] + 1 <= day:
                w[c] += 1
                d[c] += 1
                want[i] = True
        assert got.tolist() == want
        for c in set(ids):
            assert after.get(("w/", c), 0) == w[c]
            assert after.get(("d/", c), 0) == d[c]
    finally:
        store.close()


@settings(max_examples=60, deadline=None)
@given(
    start=st.times(),
    end=st.times(),
    at=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 1, 1)),
)
def test_quiet_until_is_the_end_of_the_window_now_is_in(
    start: dt.time, end: dt.time, at: dt.datetime
) -> None:
    start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
    if start == end:
        return
    p = ContactPolicy(quiet_hours=(QuietRule(channel="sms", start=start, end=end),))
    now = at.replace(tzinfo=dt.UTC)
    local = now.astimezone(p.zone()).time().replace(tzinfo=None)
    inside = (local >= start or local < end) if start > end else start <= local < end
    got = quiet_until(p, "sms", now)
    assert (got is not None) == inside
    if got is not None:
        assert now < got <= now + dt.timedelta(days=1)
        assert got.astimezone(p.zone()).time() == end
        assert quiet_until(p, "sms", got) is None  # at the end the window is open
