"""The referral-ring query against a brute-force walk, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from opsloop.activity import service
from opsloop.activity.counters import SqlCounters
from opsloop.activity.models import Referral
from opsloop.activity.risk import ListCache, SqlWindows
from opsloop.store import Store


def _oracle(edges: dict[int, int], inviter: int, invitee: int) -> tuple[bool, int]:
    seen, node = set(), inviter
    while node in edges and node not in seen:  # walk up: who invited node?
        seen.add(node)
        node = edges[node]
        if node == invitee:
            return True, sum(1 for a in edges.values() if a == inviter)
    return inviter == invitee, sum(1 for a in edges.values() if a == inviter)


def test_ring_and_star_facts_match_a_brute_force_walk(store: Store) -> None:
    rng = random.Random(5)
    edges: dict[int, int] = {}  # invitee -> inviter: chains, a ring of 4, a star of 12
    for invitee in range(2, 30):
        edges[invitee] = invitee - 1 if rng.random() < 0.7 else rng.randint(1, invitee - 1)
    edges.update({40: 43, 41: 40, 42: 41, 43: 42})
    edges.update({100 + k: 50 for k in range(12)})
    now = datetime.now(UTC)
    with store.session() as s:
        s.add_all(
            Referral(activity_id="a", invitee_id=b, inviter_id=a, rewarded=False, at=now)
            for b, a in edges.items()
        )
    rt = service.Runtime(store, SqlCounters(), SqlWindows(store), ListCache(store))
    nodes = sorted(set(edges) | set(edges.values()) | {7, 99})
    for inviter in nodes:
        for invitee in [*rng.sample(nodes, 8), inviter]:
            got = service._graph(rt, "a", inviter, invitee)
            assert got == _oracle(edges, inviter, invitee), (inviter, invitee)
    assert service._graph(rt, "a", 50, 999) == (False, 12)  # the star's fan-out
    assert service._graph(rt, "other", 41, 42) == (False, 0)  # per activity
