"""The invite graph in Redis agrees with the SQL walk, and is rebuilt from SQL.

Real PostgreSQL (the record) and real Redis; random invite graphs with chains, stars
and rings from hypothesis, some edges seeded from SQL and the rest added one by one as
accepts add them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsloop.access.principal import Principal
from opsloop.activity import service
from opsloop.activity.counters import SqlCounters
from opsloop.activity.graph import RedisGraph
from opsloop.activity.models import Referral
from opsloop.activity.risk import Attempt, ListCache, RedisWindows, SqlWindows
from opsloop.store import Store

from .helpers import coupon

MAKER = Principal("maker", "user", permissions=frozenset({"*"}))
CHECKER = Principal("checker", "user", permissions=frozenset({"*"}))
NODES = 12


@pytest.fixture
def pg_store(pg_url: str, home: Path) -> Iterator[Store]:
    s = Store.open(pg_url)
    yield s
    s.close()


def _facts(graph: RedisGraph, windows: RedisWindows, aid: str, inviter: int, invitee: int) -> Any:
    a = Attempt(aid, invitee, datetime.now(UTC), device_id=f"d{invitee}")
    _counts, cycle, fan = graph.facts(windows, a, inviter)
    return cycle, fan


# An invitee has one inviter: a random map invitee -> inviter over a few nodes makes
# chains, stars and rings (a node inviting itself is left out: the API refuses it).
graphs = st.dictionaries(st.integers(1, NODES), st.integers(1, NODES), max_size=NODES).map(
    lambda d: {b: a for b, a in d.items() if a != b}
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edges=graphs, split=st.integers(0, NODES), data=st.data())
def test_redis_ring_and_star_facts_agree_with_sql(
    pg_store: Store, redis_url: str, edges: dict[int, int], split: int, data: st.DataObject
) -> None:
    aid = uuid.uuid4().hex[:12]
    items = sorted(edges.items())
    seeded, later = items[:split], items[split:]
    now = datetime.now(UTC)
    with pg_store.session() as s:
        s.add_all(
            Referral(activity_id=aid, invitee_id=b, inviter_id=a, rewarded=False, at=now)
            for b, a in items
        )
    windows = RedisWindows(redis_url)
    graph = RedisGraph(redis_url, lambda _aid: seeded)  # SQL held only these at seed time
    graph.seed(aid)
    for b, a in later:  # ... the rest were accepted afterwards
        graph.add(aid, a, b)
    if items:  # a repeated add (a retried accept) counts once
        graph.add(aid, items[0][1], items[0][0])
    rt = service.Runtime(pg_store, SqlCounters(), SqlWindows(pg_store), ListCache(pg_store))
    pairs = data.draw(
        st.lists(st.tuples(st.integers(1, NODES), st.integers(1, NODES)), min_size=1, max_size=8)
    )
    for inviter, invitee in pairs:
        want = service._graph(rt, aid, inviter, invitee)
        assert _facts(graph, windows, aid, inviter, invitee) == want, (edges, inviter, invitee)


def test_graph_is_rebuilt_from_sql_after_redis_loses_it(pg_store: Store, redis_url: str) -> None:
    aid = "g" + uuid.uuid4().hex[:8]
    ring = {1: 3, 2: 1, 3: 2}  # 1 <- 3 <- 2 <- 1
    star = {10 + k: 9 for k in range(5)}
    now = datetime.now(UTC)
    with pg_store.session() as s:
        s.add_all(
            Referral(activity_id=aid, invitee_id=b, inviter_id=a, rewarded=False, at=now)
            for b, a in (ring | star).items()
        )
    graph = RedisGraph(redis_url, lambda a: service.referral_edges(pg_store, a))
    windows = RedisWindows(redis_url)
    assert _facts(graph, windows, aid, 2, 3) == (True, 1)  # seeded on first use
    assert _facts(graph, windows, aid, 9, 30) == (False, 5)
    redis.Redis.from_url(redis_url).flushdb()  # Redis lost everything
    assert _facts(graph, windows, aid, 2, 3) == (True, 1)
    assert _facts(graph, windows, aid, 9, 30) == (False, 5)
    client = redis.Redis.from_url(redis_url)
    client.hset(f"opsloop:ref:{aid}:fan", "9", 99)  # drifted: rebuild puts SQL's back
    graph.rebuild(aid)
    assert _facts(graph, windows, aid, 9, 30) == (False, 5)


def test_referral_accept_on_redis_blocks_rings_and_stars_without_sql(
    pg_store: Store, redis_url: str
) -> None:
    for bid in ("inviter", "invitee"):
        service.create_benefit(store=pg_store, actor=MAKER, doc=coupon(bid).model_dump(mode="json"))
    doc = {
        "name": "mgm",
        "template": {
            "kind": "referral",
            "inviter_benefit_id": "inviter",
            "invitee_benefit_id": "invitee",
            "qualifying_action": "first_purchase",
            "max_invites": 10,
        },
        "starts_at": "2020-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "landing": {"title": "t"},
        "risk": {"ring_size": 3},
    }
    aid: str = service.create_activity(store=pg_store, actor=MAKER, doc=doc)["id"]
    for who, action in ((MAKER, "submit"), (CHECKER, "approve"), (MAKER, "start")):
        service.transition(store=pg_store, actor=who, activity_id=aid, action=action)
    rt = service.Runtime.build(pg_store, redis_url)
    assert rt.graph is not None

    def go(cid: int, inviter: int) -> service.Outcome:
        req = service.Request(cid, action="accept", invite_code=service.invite_code(aid, inviter))
        return service.participate(rt=rt, activity_id=aid, req=req)

    assert go(2, 1).outcome == "accepted"  # 1 -> 2 -> 3
    assert go(3, 2).outcome == "accepted"
    ring = go(1, 3)  # 3 -> 1 closes the loop: the edges came from add(), not a seed
    assert ring.outcome == "block" and ring.risk is not None
    assert "referral.cycle" in [f["rule"] for f in ring.risk["fired"]]
    for cid in (4, 5, 6):
        go(cid, 9)
    star = go(7, 9)  # the inviter already has 3 invitees: ring_size reached
    assert star.risk is not None and "referral.star" in [f["rule"] for f in star.risk["fired"]]
