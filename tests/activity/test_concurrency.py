"""Many real processes race for one coupon on PostgreSQL: no oversell, no double redemption."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from sqlalchemy import func, select

from opsloop.activity import ledger
from opsloop.activity.counters import RedisCounters, SqlCounters
from opsloop.activity.models import BenefitUnit, LedgerEntry
from opsloop.store import Store

from . import workers

PROCS = 6


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sql", "redis", "redis-lean"])
def test_no_oversell_no_double_redeem(
    backend: str, pg_url: str, request: pytest.FixtureRequest
) -> None:
    """``redis-lean``: the lean path's grab, each process firing all its grabs at once."""
    redis_url: str | None = request.getfixturevalue("redis_url") if backend != "sql" else None
    Store.open(pg_url).close()
    ctx = mp.get_context("spawn")
    grab = workers.grab_lean if backend == "redis-lean" else workers.grab
    with ctx.Pool(PROCS) as pool:
        issued = sum(pool.starmap(grab, [(pg_url, redis_url, s, 25) for s in range(PROCS)]))
        redeemed = sum(pool.starmap(workers.redeem_all, [(pg_url, s) for s in range(PROCS)]))
    # 28_000 cents of budget at 1_000 a unit caps before the stock of 30 does.
    assert issued == 28
    assert redeemed == 28
    store = Store.open(pg_url, migrate=False)
    try:
        with store.session() as s:
            per_customer = s.execute(
                select(BenefitUnit.customer_id, func.count()).group_by(BenefitUnit.customer_id)
            ).all()
            assert max(n for _, n in per_customer) <= workers.PER_CUSTOMER
            kinds = s.execute(
                select(LedgerEntry.unit_id, func.count())
                .where(LedgerEntry.kind == "redeem")
                .group_by(LedgerEntry.unit_id)
            ).all()
            assert len(kinds) == 28 and all(n == 1 for _, n in kinds)
            bal = ledger.balances(s, benefit_id="c10")
            assert (bal.issued, bal.budget_used_cents) == (28, 28_000)
            counters = (
                RedisCounters(redis_url, ledger.derived_counters) if redis_url else SqlCounters()
            )
            assert ledger.reconcile(s, counters=counters, scope="b/c10") == []
    finally:
        store.close()
