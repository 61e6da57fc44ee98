"""The per-process sold-out marker: refuses only, never beyond its TTL, never per customer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from opsloop.access.principal import Principal
from opsloop.activity import ledger, service
from opsloop.activity.soldout import SoldOut, shared_cap
from opsloop.store import Store

from .helpers import NOW, coupon

MAKER = Principal("maker", "user", permissions=frozenset({"*"}))
CHECKER = Principal("checker", "user", permissions=frozenset({"*"}))


class Tick:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_marker_holds_for_its_ttl_and_only_for_shared_caps() -> None:
    tick = Tick()
    so = SoldOut(ttl=0.1, clock=tick)
    shared = ["b/c/stock", "b/d/budget", "a/c/budget", "b/c/d/2026-03-02"]
    assert all(shared_cap(k) for k in shared)  # benefit ids "c" and "d" are no trap
    mine = ["b/c/c/7", "b/c/c/7/d/2026-03-02", "b/c/a/act/c/7", "b/c/stock/x"]
    assert not any(shared_cap(k) for k in mine)
    so.mark("act", "b/c10/c/7")  # one customer's limit: others may still get one
    so.mark("act", "b/c10/a/act/c/7")
    so.mark("act", None)
    assert so.where("act", NOW) is None
    so.mark("act", "b/c10/stock")
    assert so.where("act", NOW) == "b/c10/stock"
    assert so.where("other", NOW) is None
    tick.t += 0.1  # the TTL passed: ask the counters again
    assert so.where("act", NOW) is None
    so.mark("act", f"b/c10/d/{NOW.date().isoformat()}")  # today's stock is gone ...
    assert so.where("act", NOW) is not None
    tomorrow = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert so.where("act", tomorrow) is None  # ... tomorrow's is not
    so.mark("act", "a/act/budget")
    so.clear("act")
    assert so.where("act", NOW) is None


def test_after_the_ttl_one_request_asks_while_the_others_are_refused() -> None:
    tick = Tick()
    so = SoldOut(ttl=0.1, clock=tick)
    so.mark("act", "b/c10/stock")
    tick.t += 0.1
    assert so.where("act", NOW) is None  # this one asks the counters ...
    assert so.where("act", NOW) == "b/c10/stock"  # ... the others meanwhile do not
    so.mark("act", "b/c10/stock")  # the asker heard "sold out": renewed for a TTL
    assert so.where("act", NOW) == "b/c10/stock"
    tick.t += 0.1
    assert so.where("act", NOW) is None
    so.mark("act", None)  # the asker was issued a unit: everyone asks again
    assert so.where("act", NOW) is None and so.where("act", NOW) is None
    so.mark("act", "b/c10/stock")
    tick.t += 0.1
    assert so.where("act", NOW) is None
    so.settle("act")  # the asker failed
    assert so.where("act", NOW) is None and so.where("act", NOW) is None
    so.mark("act", "b/c10/stock")
    tick.t += 0.1
    assert so.where("act", NOW) is None
    tick.t += 0.1  # the asker never answered: after another TTL another one asks
    assert so.where("act", NOW) is None
    assert so.where("act", NOW) == "b/c10/stock"
    so.mark("act", "b/c10/c/7")  # the asker hit its own limit: that says nothing
    assert so.where("act", NOW) is None and so.where("act", NOW) is None
    so.settle("act")  # nobody asking: a settle changes nothing
    so.mark("act", "b/c10/budget")
    so.settle("act")
    assert so.where("act", NOW) == "b/c10/budget"


@pytest.fixture
def pg_store(pg_url: str, home: Path) -> Iterator[Store]:
    s = Store.open(pg_url)
    yield s
    s.close()


def test_sold_out_answers_without_redis_and_clears_when_stock_comes_back(
    pg_store: Store, redis_url: str
) -> None:
    doc = coupon("c10", total_stock=2).model_dump(mode="json")
    benefit = service.create_benefit(store=pg_store, actor=MAKER, doc=doc)
    act = {
        "name": "秒杀",
        "template": {"kind": "coupon_drop", "benefit_id": "c10"},
        "starts_at": "2020-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "landing": {"title": "抢券"},
    }
    aid: str = service.create_activity(store=pg_store, actor=MAKER, doc=act)["id"]
    for who, action in ((MAKER, "submit"), (CHECKER, "approve"), (MAKER, "start")):
        service.transition(store=pg_store, actor=who, activity_id=aid, action=action)
    tick = Tick()
    rt = service.Runtime.build(pg_store, redis_url)
    rt.sold_out = SoldOut(ttl=0.1, clock=tick)
    assert rt.grabber is not None
    rt.grabber.released = rt.sold_out.clear
    seen = redis.Redis.from_url(redis_url)

    def go(cid: int) -> service.Outcome:
        req = service.Request(cid, device_id=f"d{cid}")
        return asyncio.run(service.participate_async(rt=rt, activity_id=aid, req=req))

    first = go(1)
    req2 = service.Request(2, device_id="d2", request_id="r2")
    second = asyncio.run(service.participate_async(rt=rt, activity_id=aid, req=req2))
    assert first.outcome == "issued" and second.outcome == "issued"
    assert go(3) == service.Outcome("exhausted", detail="b/c10/stock")  # Redis said so
    assert seen.exists("opsloop:risk:customer:3")
    assert go(4) == service.Outcome("exhausted", detail="b/c10/stock")  # the marker did
    assert not seen.exists("opsloop:risk:customer:4")  # no risk window, no Lua call
    retry = asyncio.run(service.participate_async(rt=rt, activity_id=aid, req=req2))
    assert retry.unit_ids == second.unit_ids  # a retry still gets its unit, not the marker
    ledger.revoke(
        pg_store, counters=rt.counters, benefit=benefit, unit_id=first.unit_ids[0], now=NOW
    )
    assert go(5).outcome == "exhausted"  # within the TTL the marker still answers ...
    tick.t += 0.1
    assert go(5).outcome == "issued"  # ... then the stock given back is seen
    with pg_store.session() as s:
        assert ledger.balances(s, benefit_id="c10").issued == 3
        assert ledger.reconcile(s, counters=rt.counters, scope="b/c10") == []
