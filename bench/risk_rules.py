"""Risk rule evaluation per participation: every rule, timed one attempt at a time.

Each attempt runs what :func:`opsloop.activity.service.participate` runs before a
template: the sliding windows (velocity per customer, device, IP and phone prefix, and
accounts per device) recorded and counted, the black/grey list lookup, the referral
graph facts (does this invite close a loop; how many invitees has the inviter) and the
scoring. The store is PostgreSQL, preloaded with an invite graph (chains, stars and a
few rings) and a list of blacklisted devices. With ``--redis`` the windows live in
Redis and a referral accept reads the invite graph from Redis in the same Lua call
(:mod:`opsloop.activity.graph`, seeded from SQL untimed first, its seed time reported;
its facts are checked against the SQL walk on 2,000 attempts); without, the windows are
the SQL ``risk_hits`` table and the graph the recursive SQL query. The pure scoring
alone is timed as the floor.
Run: ``.venv/bin/python -m bench risk_rules --redis`` (goal: p99 ≤ 5 ms). The figures
cover a referral accept (graph query included) and, as ``coupon_grab_no_graph``, what
the lean participation path runs for a coupon grab (windows, lists, scoring).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from opsloop.activity import ledger, service
from opsloop.activity.counters import RedisCounters, SqlCounters
from opsloop.activity.definitions import RiskPolicy
from opsloop.activity.graph import RedisGraph
from opsloop.activity.models import Referral, RiskListEntry
from opsloop.activity.risk import (
    Attempt,
    ListCache,
    RedisWindows,
    SqlWindows,
    Windows,
    evaluate,
)
from opsloop.store import Store

PG = os.environ.get("OPSLOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = "redis://127.0.0.1:6379/13"
SMALL = ["--attempts", "500", "--customers", "2000"]
AID = "riskbench"


def _seed_store(store: Store, customers: int, rng: random.Random) -> None:
    """An invite graph: chains of 1-20, stars of up to 30 invitees, rings of 3-6."""
    edges: dict[int, int] = {}  # invitee -> inviter
    ids = list(range(1, customers + 1))
    rng.shuffle(ids)
    i = 0
    while i < len(ids) - 40:
        kind = rng.random()
        if kind < 0.6:  # chain
            n = rng.randint(2, 20)
            for a, b in zip(ids[i : i + n], ids[i + 1 : i + n], strict=False):
                edges[b] = a
        elif kind < 0.95:  # star
            n = rng.randint(2, 30)
            for b in ids[i + 1 : i + n]:
                edges[b] = ids[i]
        else:  # ring
            n = rng.randint(3, 6)
            ring = ids[i : i + n]
            for k, b in enumerate(ring):
                edges[b] = ring[k - 1]
        i += n
    now = datetime.now(UTC)
    with store.session() as s:
        s.add_all(
            Referral(activity_id=AID, invitee_id=b, inviter_id=a, rewarded=False, at=now)
            for b, a in edges.items()
        )
        s.add_all(
            RiskListEntry(dimension="device", value=f"d{c}", list_kind="black")
            for c in rng.sample(range(1, customers + 1), customers // 100)
        )
        s.add_all(
            RiskListEntry(dimension="phone_prefix", value=str(1380000 + k), list_kind="grey")
            for k in range(0, 1000, 7)
        )


def _attempt(rng: random.Random, customers: int, now: datetime) -> tuple[Attempt, int]:
    cid = rng.randint(1, customers)
    device = f"d{rng.randint(1, customers)}" if rng.random() < 0.2 else f"d{cid}"
    opened = date(2020, 1, 1) + timedelta(days=rng.randint(0, 2500))
    attempt = Attempt(
        AID,
        cid,
        now,
        device_id=device,
        ip=f"10.0.{rng.randint(0, 50)}.{rng.randint(1, 254)}",
        phone_prefix=str(1380000 + rng.randint(0, 999)),
        opened_on=opened,
        last_active_on=opened + timedelta(days=rng.randint(0, 400)),
    )
    return attempt, rng.randint(1, customers)  # the inviter whose code it carries


def _run(
    rt: service.Runtime, windows: Windows, n: int, customers: int, seed: int, graph: bool = True
) -> tuple[list[float], dict[str, int]]:
    rng = random.Random(seed)
    policy, lats, actions = RiskPolicy(), [], {"allow": 0, "challenge": 0, "block": 0}
    lists = ListCache(rt.store)
    for _ in range(n):
        a, inviter = _attempt(rng, customers, datetime.now(UTC))
        t = time.perf_counter()
        if not graph:  # a coupon grab (the lean path) has no invite graph
            counts = windows.hit(a)
        elif rt.graph is not None and isinstance(windows, RedisWindows):  # one Lua call
            counts, in_cycle, invites = rt.graph.facts(windows, a, inviter)
        else:  # the recursive SQL query, then the windows
            in_cycle, invites = service._graph(rt, AID, inviter, a.customer_id)
            counts = windows.hit(a)
        if graph:
            a = Attempt(**{**a.__dict__, "in_cycle": in_cycle, "inviter_invites": invites})
        verdict = evaluate(a, policy, counts=counts, lists=lists.lookup(a))
        lats.append(time.perf_counter() - t)
        actions[verdict.action] += 1
    return lats, actions


def _agrees(rt: service.Runtime, windows: RedisWindows, n: int, customers: int) -> int:
    """How many of ``n`` random accepts get different graph facts from Redis and SQL."""
    assert rt.graph is not None
    rng, wrong = random.Random(5), 0
    for _ in range(n):
        a, inviter = _attempt(rng, customers, datetime.now(UTC))
        _counts, in_cycle, invites = rt.graph.facts(windows, a, inviter)
        wrong += (in_cycle, invites) != service._graph(rt, AID, inviter, a.customer_id)
    return wrong


def _pure(n: int, customers: int, seed: int) -> list[float]:
    """The scoring alone, counts given: the floor of any implementation."""
    from opsloop.activity.risk import Counts

    rng, policy, lats = random.Random(seed), RiskPolicy(), []
    counts = Counts({"customer": 3, "device": 30, "ip": 70, "phone_prefix": 2}, 4)
    for _ in range(n):
        a, _inv = _attempt(rng, customers, datetime.now(UTC))
        t = time.perf_counter()
        evaluate(a, policy, counts=counts, lists={"device": "grey"})
        lats.append(time.perf_counter() - t)
    return lats


def _stats(lats: list[float]) -> dict[str, float]:
    s = sorted(lats)
    return {
        "p50_ms": round(s[len(s) // 2] * 1000, 3),
        "p99_ms": round(s[int(len(s) * 0.99)] * 1000, 3),
        "max_ms": round(s[-1] * 1000, 3),
        "mean_ms": round(sum(s) / len(s) * 1000, 3),
    }


def main(argv: list[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--attempts", type=int, default=20_000)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--redis", action="store_true", help="windows in Redis (else SQL)")
    a = p.parse_args(argv)
    dbname = f"opsloop_riskb_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as con:
        con.execute(f'create database "{dbname}"')
    url = PG.rsplit("/", 1)[0] + "/" + dbname
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    try:
        store = Store.open(url)
        _seed_store(store, a.customers, random.Random(7))
        if a.redis:
            import redis

            redis.Redis.from_url(REDIS).flushdb()
            windows: Windows = RedisWindows(REDIS)
            counters: Any = RedisCounters(REDIS, ledger.derived_counters)
        else:
            windows, counters = SqlWindows(store), SqlCounters()
        rt = service.Runtime(store, counters, windows, ListCache(store))
        seed_s, edges, mismatches = 0.0, 0, None
        if isinstance(windows, RedisWindows):
            rt.graph = RedisGraph(REDIS, lambda aid: service.referral_edges(store, aid))
            edges = len(service.referral_edges(store, AID))
            t0 = time.perf_counter()
            rt.graph.seed(AID)  # what a first accept (or a Redis that lost its data) pays
            seed_s = time.perf_counter() - t0
            mismatches = _agrees(rt, windows, 2000, a.customers)
        _run(rt, windows, min(500, a.attempts), a.customers, 1)  # warm up pools, caches
        lats, actions = _run(rt, windows, a.attempts, a.customers, 2)
        lean, _ = _run(rt, windows, a.attempts, a.customers, 4, graph=False)
        pure = _pure(a.attempts, a.customers, 3)
        store.close()
    finally:
        with psycopg.connect(PG, autocommit=True) as con:
            con.execute(f'drop database if exists "{dbname}" with (force)')
    full = _stats(lats)
    return {
        "windows": "redis" if a.redis else "sql",
        "attempts": a.attempts,
        "customers": a.customers,
        **full,
        "goal_p99_ms": 5.0,
        "met": full["p99_ms"] <= 5.0,
        "actions": actions,
        "graph": "redis (one Lua call with the windows)" if a.redis else "sql (recursive query)",
        "graph_edges": edges,
        "graph_seed_s": round(seed_s, 3),
        "graph_mismatches_vs_sql_of_2000": mismatches,
        "coupon_grab_no_graph": _stats(lean),
        "scoring_only": _stats(pure),
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(sys.argv[1:])))
