"""Issue → redeem / expire / revoke on SQLite and PostgreSQL, SQL and Redis counters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsloop.activity import ledger
from opsloop.activity.counters import Counters, ExhaustedError, RedisCounters, SqlCounters
from opsloop.errors import ConflictError
from opsloop.store import Store

from .helpers import NOW, coupon


@pytest.fixture(params=["sql", "redis"])
def counters(request: pytest.FixtureRequest, store: Store) -> Counters:
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return RedisCounters(url, ledger.derived_counters)
    return SqlCounters()


def _issue(store: Store, counters: Counters, cid: int, key: str, **kw: object) -> ledger.Issued:
    b = kw.pop("benefit", None) or coupon(total_stock=3, per_customer_lifetime=2)
    return ledger.issue(
        store,
        counters=counters,
        benefit=b,  # type: ignore[arg-type]
        activity_id=str(kw.pop("activity_id", "a1")),
        customer_id=cid,
        now=NOW,
        idem_key=key,
        **kw,  # type: ignore[arg-type]
    )


def test_stock_and_customer_limit_hold(store: Store, counters: Counters) -> None:
    _issue(store, counters, 1, "k1")
    _issue(store, counters, 1, "k2")
    with pytest.raises(ExhaustedError) as err:
        _issue(store, counters, 1, "k3")
    assert err.value.where == "b/c10/c/1"
    _issue(store, counters, 2, "k4")
    with pytest.raises(ExhaustedError) as err:
        _issue(store, counters, 3, "k5")
    assert err.value.where == "b/c10/stock"
    with store.session() as s:
        bal = ledger.balances(s, benefit_id="c10")
        assert (bal.issued, bal.stock_used, bal.budget_used_cents) == (3, 3, 3000)
        assert ledger.reconcile(s, counters=counters, scope="b/c10") == []


def test_idempotent_issue_returns_the_same_unit(store: Store, counters: Counters) -> None:
    first = _issue(store, counters, 1, "same")
    again = _issue(store, counters, 1, "same")
    assert again.duplicate and again.unit_id == first.unit_id
    with store.session() as s:
        assert ledger.balances(s, benefit_id="c10").issued == 1
        assert ledger.reconcile(s, counters=counters, scope="b/c10") == []


def test_budget_and_activity_budget(store: Store, counters: Counters) -> None:
    b = coupon("cb", budget_cents=2500)
    _issue(store, counters, 1, "a", benefit=b)
    _issue(store, counters, 2, "b", benefit=b)
    with pytest.raises(ExhaustedError) as err:
        _issue(store, counters, 3, "c", benefit=b)
    assert err.value.where == "b/cb/budget"

    other = coupon("other")
    kw = {"benefit": other, "activity_budget_cents": 2500, "activity_id": "a2"}
    _issue(store, counters, 3, "d", **kw)
    _issue(store, counters, 4, "e", **kw)
    with pytest.raises(ExhaustedError) as err:
        _issue(store, counters, 5, "f", **kw)
    assert err.value.where == "a/a2/budget"


def test_redeem_once_threshold_and_idempotency(store: Store, counters: Counters) -> None:
    unit = _issue(store, counters, 7, "i").unit_id
    with store.session() as s:
        assert (
            ledger.redeem_by_transaction(s, customer_id=7, amount_cents=9999, txn_id="t0", now=NOW)
            is None
        )
        e = ledger.redeem_by_transaction(s, customer_id=7, amount_cents=10000, txn_id="t1", now=NOW)
        assert e is not None and e.unit_id == unit
    with store.session() as s:  # a replayed event changes nothing
        again = ledger.redeem_by_transaction(
            s, customer_id=7, amount_cents=10000, txn_id="t1", now=NOW
        )
        assert again is not None and again.id == e.id
    with pytest.raises(ConflictError), store.session() as s:
        ledger.redeem(s, unit_id=unit, customer_id=7, now=NOW, idem_key="api-2")
    with store.session() as s:
        assert ledger.balances(s, benefit_id="c10").redeemed == 1


def test_expire_and_revoke(store: Store, counters: Counters) -> None:
    b = coupon(total_stock=3, per_customer_lifetime=2)
    u1 = _issue(store, counters, 1, "x1").unit_id
    u2 = _issue(store, counters, 2, "x2").unit_id
    with store.session() as s:
        assert ledger.expire_due(s, now=NOW + timedelta(days=8)) == 2
    with pytest.raises(ConflictError), store.session() as s:
        ledger.redeem(s, unit_id=u1, customer_id=1, now=NOW, idem_key="late")
    u3 = _issue(store, counters, 3, "x3").unit_id
    ledger.revoke(store, counters=counters, benefit=b, unit_id=u3, now=NOW)
    _issue(store, counters, 4, "x4")  # the revoked unit's stock came back
    with store.session() as s:
        bal = ledger.balances(s, benefit_id="c10")
        assert (bal.issued, bal.expired, bal.revoked, bal.stock_used) == (4, 2, 1, 3)
        assert ledger.reconcile(s, counters=counters, scope="b/c10") == []
    assert u2


def test_redis_reseeds_from_the_ledger_after_data_loss(store: Store, redis_url: str) -> None:
    counters = RedisCounters(redis_url, ledger.derived_counters)
    _issue(store, counters, 1, "r1")
    _issue(store, counters, 2, "r2")
    counters.client.flushdb()  # Redis lost everything; the ledger did not
    _issue(store, counters, 3, "r3")
    with pytest.raises(ExhaustedError):
        _issue(store, counters, 4, "r4")
    counters.client.incrby("opsloop:act:b/c10/stock", 5)  # drift
    with store.session() as s:
        bad = ledger.reconcile(s, counters=counters, scope="b/c10", repair=True)
        assert [(m.key, m.ledger, m.counter) for m in bad] == [("b/c10/stock", 3, 8)]
        assert ledger.reconcile(s, counters=counters, scope="b/c10") == []
