"""Process bodies for the concurrency tests (importable by spawned children)."""

from __future__ import annotations

import random

from opsloop.activity import ledger
from opsloop.activity.counters import Counters, ExhaustedError, RedisCounters, SqlCounters
from opsloop.errors import ConflictError
from opsloop.store import Store

from .helpers import NOW, coupon

STOCK, PER_CUSTOMER, CUSTOMERS, BUDGET = 30, 2, 25, 28_000


def _counters(redis_url: str | None) -> Counters:
    return RedisCounters(redis_url, ledger.derived_counters) if redis_url else SqlCounters()


def grab(url: str, redis_url: str | None, seed: int, attempts: int) -> int:
    """Try to issue ``attempts`` coupons to random customers; returns how many succeeded."""
    store, counters, rng = Store.open(url, migrate=False), _counters(redis_url), random.Random(seed)
    b = coupon(total_stock=STOCK, per_customer_lifetime=PER_CUSTOMER, budget_cents=BUDGET)
    got = 0
    try:
        for i in range(attempts):
            try:
                r = ledger.issue(
                    store,
                    counters=counters,
                    benefit=b,
                    activity_id="a1",
                    customer_id=rng.randrange(CUSTOMERS),
                    now=NOW,
                    idem_key=f"{seed}-{i}" if i % 5 else "shared-retry",
                )
                got += 0 if r.duplicate else 1
            except ExhaustedError:
                pass
    finally:
        store.close()
    return got


def redeem_all(url: str, seed: int) -> int:
    """Redeem every issued unit (all processes race for the same units)."""
    store = Store.open(url, migrate=False)
    won = 0
    try:
        with store.session() as s:
            units = [(u.unit_id, u.customer_id) for u in s.query(ledger.BenefitUnit).all()]
        for unit_id, cid in units:
            try:
                with store.session() as s:
                    ledger.redeem(
                        s, unit_id=unit_id, customer_id=cid, now=NOW, idem_key=f"{seed}:{unit_id}"
                    )
                won += 1
            except ConflictError:
                pass
    finally:
        store.close()
    return won


def grab_lean(url: str, redis_url: str, seed: int, attempts: int) -> int:
    """The lean path's grab (one Lua call + group commit), ``attempts`` at once in one
    event loop; returns how many units this process was granted."""
    import asyncio

    from opsloop.activity.grab import Grabber

    store, rng = Store.open(url, migrate=False), random.Random(seed)
    counters = RedisCounters(redis_url, ledger.derived_counters)

    def seed_scopes(scopes: list[str]) -> None:
        with store.session() as s:
            for scope in scopes:
                counters.seed(s, scope)

    g = Grabber(store, counters, seed_scopes)
    b = coupon(total_stock=STOCK, per_customer_lifetime=PER_CUSTOMER, budget_cents=BUDGET)

    async def one(i: int) -> int:
        try:
            _unit, dup = await g.grab(
                b,
                activity_id="a1",
                activity_budget_cents=None,
                customer_id=rng.randrange(CUSTOMERS),
                now=NOW,
                request_id=f"{seed}-{i}" if i % 5 else "shared-retry",
                action="coupon_drop",
            )
        except ExhaustedError:
            return 0
        except ConflictError:  # the shared retry key still being stored by another process
            return 0
        return 0 if dup else 1

    async def run() -> int:
        return sum(await asyncio.gather(*(one(i) for i in range(attempts))))

    try:
        return asyncio.run(run())
    finally:
        store.close()
