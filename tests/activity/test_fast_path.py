"""The lean participation path (activity/asgi.py) and the Redis grab with group commit.

- grabs on the Redis path are answered without reaching the FastAPI route;
- every failure the route gives, the lean path gives the same (status, body, headers),
  checked by sending each case to both;
- concurrent grabs are committed in batches, never beyond stock, and a batch that
  cannot be stored undoes its charges (nothing acknowledged is lost, nothing leaks).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from access.fixtures import OPEN_LIMITS, add_user, seed_bank
from opsloop.access import roles
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.access.ratelimit import RedisRateLimiter
from opsloop.access.schemas import RoleCreate
from opsloop.activity import asgi, ledger
from opsloop.activity.counters import ExhaustedError, RedisCounters
from opsloop.activity.grab import Grabber, GroupCommit, NotStoredError, Pending
from opsloop.activity.models import BenefitUnit, LedgerEntry, Participation
from opsloop.api.app import create_app
from opsloop.settings import Settings
from opsloop.store import Store

from .helpers import NOW, coupon

WINDOW = {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"}


def _doc(**extra: Any) -> dict[str, Any]:
    t = {"kind": "coupon_drop", "benefit_id": "c10"}
    return {"name": "秒杀", "template": t, "landing": {"title": "抢券"}} | WINDOW | extra


def _launch(client: TestClient, doc: dict[str, Any], start: bool = True) -> str:
    maker = {"Authorization": "Bearer local-test-token"}
    store = client.app.state.store  # type: ignore[attr-defined]
    checker = add_user(store, "checker", roles=["approver"])
    aid: str = client.post("/api/v1/activities", json=doc, headers=maker).json()["id"]
    if start:
        assert client.post(f"/api/v1/activities/{aid}/submit", headers=maker).status_code == 200
        assert client.post(f"/api/v1/activities/{aid}/approve", headers=checker).status_code == 200
        assert client.post(f"/api/v1/activities/{aid}/start", headers=maker).status_code == 200
    return aid


def _fast(app: FastAPI) -> asgi.ParticipateFastPath:
    node: Any = app.middleware_stack
    while node is not None and not isinstance(node, asgi.ParticipateFastPath):
        node = getattr(node, "app", None)
    assert node is not None, "the lean path is not mounted"
    return node


@pytest.fixture
def redis_app(home: Path, pg_url: str, redis_url: str) -> FastAPI:
    settings = Settings(home=home, database_url=pg_url, redis_url=redis_url)
    seed_bank(settings)
    return create_app(settings, access=OPEN_LIMITS, local_token="local-test-token")


def test_redis_grab_is_answered_without_the_router(
    redis_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsloop.api.routers import activity as route

    def reached(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the FastAPI participation route was reached")

    monkeypatch.setattr(route, "runtime", reached)
    with TestClient(redis_app, base_url="https://testserver") as client:
        store = redis_app.state.store
        maker = {"Authorization": "Bearer local-test-token"}
        b = coupon(total_stock=3, per_customer_lifetime=1).model_dump(mode="json")
        assert client.post("/api/v1/benefits", json=b, headers=maker).status_code == 201
        aid = _launch(client, _doc())
        backend = add_user(store, "appsys", roles=["admin"])
        url = f"/api/v1/activities/{aid}/participate"
        first = client.post(url, json={"customer_id": 1, "request_id": "r1"}, headers=backend)
        assert first.status_code == 200 and first.json()["outcome"] == "issued"
        assert first.headers["x-frame-options"] == "DENY"
        assert first.headers["cache-control"] == "no-store"
        assert "strict-transport-security" in first.headers
        retry = client.post(url, json={"customer_id": 1, "request_id": "r1"}, headers=backend)
        assert retry.json() == first.json()  # same unit, nothing charged twice
        again = client.post(url, json={"customer_id": 1}, headers=backend).json()
        assert (again["outcome"], again["detail"]) == ("exhausted", "b/c10/c/1")
        outs = [
            client.post(url, json={"customer_id": c}, headers=backend).json()["outcome"]
            for c in (2, 3, 4, 5)
        ]
        assert outs == ["issued", "issued", "exhausted", "exhausted"]
        assert _fast(redis_app).answered == 7
        with store.session() as s:
            assert ledger.balances(s, benefit_id="c10").issued == 3
            parts = s.execute(select(func.count()).select_from(Participation)).scalar_one()
            assert parts == 3
            counters = RedisCounters(redis_app.state.settings.redis_url, ledger.derived_counters)
            assert ledger.reconcile(s, counters=counters, scope="b/c10") == []
        metrics = client.get("/metrics", headers=maker).text
        assert 'route="/api/v1/activities/{activity_id}/participate"' in metrics


def _cases(client: TestClient, store: Store) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, url, request kwargs) of refused participations; none changes state."""
    maker = {"Authorization": "Bearer local-test-token"}
    b = coupon(total_stock=5).model_dump(mode="json")
    assert client.post("/api/v1/benefits", json=b, headers=maker).status_code == 201
    running = _launch(client, _doc(eligibility={"channels": ["app"]}))
    draft = _launch(client, _doc(), start=False)
    ended = _launch(client, _doc(starts_at="2020-01-01T00:00:00Z", ends_at="2021-01-01T00:00:00Z"))
    backend = add_user(store, "appsys", roles=["admin"])
    no_perm = add_user(store, "maker", roles=["operator"])
    with store.session() as s:
        body = RoleCreate(name="branch_app", permissions=["activity:participate"])
        roles.create_role(session=s, actor=LOCAL_OPERATOR, body=body)
    b01_app = add_user(store, "b01app", roles=["branch_app"], org_id="B01")

    def url(aid: str) -> str:
        return f"/api/v1/activities/{aid}/participate"

    ok = {"customer_id": 4, "channel": "app"}
    return [
        ("unknown activity", url("nosuchactivity0"), {"json": ok, "headers": backend}),
        ("draft", url(draft), {"json": ok, "headers": backend}),
        ("ended", url(ended), {"json": ok, "headers": backend}),
        ("channel", url(running), {"json": {"customer_id": 4}, "headers": backend}),
        ("out of scope", url(running), {"json": ok | {"customer_id": 9}, "headers": b01_app}),
        ("bad id", url(running), {"json": {"customer_id": 0}, "headers": backend}),
        ("extra field", url(running), {"json": ok | {"segment_ids": ["x"]}, "headers": backend}),
        ("bad json", url(running), {"content": b'{"customer_id":', "headers": backend | _JSON}),
        ("no json type", url(running), {"content": b'{"customer_id":4}', "headers": backend}),
        ("bad path", url("NOT-AN-ID"), {"json": ok, "headers": backend}),
        ("no token", url(running), {"json": ok}),
        ("bad token", url(running), {"json": ok, "headers": {"Authorization": "Bearer x"}}),
        ("no permission", url(running), {"json": ok, "headers": no_perm}),
        ("too large", url(running), {"json": ok | {"ip": "x" * 2_000_000}, "headers": backend}),
    ]


_JSON = {"Content-Type": "application/json"}
_HEADERS = ("content-type", "x-frame-options", "cache-control", "www-authenticate", "retry-after")


def test_refusals_are_the_routes_own(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = _cases(client, app.state.store)
    lean = {name: client.post(u, **kw) for name, u, kw in cases}
    answered = _fast(app).answered
    assert answered >= 5  # unknown, draft, ended, channel, out of scope: answered by it
    monkeypatch.setattr(asgi, "_PATH", re.compile(r"(?!x)x"))  # now the route answers all
    for name, u, kw in cases:
        routed = client.post(u, **kw)
        got = lean[name]
        assert got.status_code == routed.status_code >= 400, name
        assert got.json() == routed.json(), name
        for h in _HEADERS:
            assert got.headers.get(h) == routed.headers.get(h), (name, h)
    assert _fast(app).answered == answered
    assert lean["out of scope"].status_code == 404
    assert lean["channel"].json()["where"] == "channel"


# ---- the grab and its group commit, directly -------------------------------------


def _grabber(store: Store, redis_url: str) -> Grabber:
    counters = RedisCounters(redis_url, ledger.derived_counters)

    def seed(scopes: list[str]) -> None:
        with store.session() as s:
            for scope in scopes:
                counters.seed(s, scope)

    return Grabber(store, counters, seed)


async def _grab(g: Grabber, cid: int, rid: str | None = None) -> str | None:
    try:
        unit, _dup = await g.grab(
            coupon(total_stock=50, per_customer_lifetime=1, budget_cents=45_000),
            activity_id="a1",
            activity_budget_cents=None,
            customer_id=cid,
            now=NOW,
            request_id=rid,
            action="coupon_drop",
        )
    except ExhaustedError:
        return None
    return unit


def test_concurrent_grabs_commit_in_batches_within_caps(pg_url: str, redis_url: str) -> None:
    store = Store.open(pg_url)
    try:
        g = _grabber(store, redis_url)

        async def rush() -> list[str | None]:
            return await asyncio.gather(*(_grab(g, c % 120 + 1) for c in range(400)))

        got = [u for u in asyncio.run(rush()) if u is not None]
        assert len(got) == 45 == len(set(got))  # the budget (45 × 1,000 ¢) binds first
        assert g.writer is not None and 1 <= g.writer.batches < 45
        with store.session() as s:
            units = s.execute(select(BenefitUnit.customer_id)).scalars().all()
            assert len(units) == 45 == len(set(units))  # one per customer
            entries = s.execute(select(LedgerEntry.unit_id)).scalars().all()
            parts = s.execute(select(Participation.unit_id)).scalars().all()
            assert sorted(entries) == sorted(str(p) for p in parts) == sorted(got)
            bal = ledger.balances(s, benefit_id="c10")
            assert (bal.issued, bal.budget_used_cents) == (45, 45_000)
            assert ledger.reconcile(s, counters=g.counters, scope="b/c10") == []
    finally:
        store.close()


def test_a_batch_not_stored_gives_its_charge_back(pg_url: str, redis_url: str) -> None:
    store = Store.open(pg_url)
    try:
        g = _grabber(store, redis_url)
        stored: list[int] = []

        class Broken(GroupCommit):
            def _insert(self, items: Any, *, copy: bool = True) -> None:
                stored.append(len(items))
                raise RuntimeError("disk full")

        g.writer = Broken(store, undo=g._undo)
        with pytest.raises(NotStoredError):
            asyncio.run(_grab(g, 7, "req-1"))
        assert stored  # it tried
        with store.session() as s:
            assert ledger.balances(s, benefit_id="c10").issued == 0
            assert ledger.reconcile(s, counters=g.counters, scope="b/c10") == []
        g.writer = None  # the store is back: the client's retry issues once
        first = asyncio.run(_grab(g, 7, "req-1"))
        again = asyncio.run(_grab(g, 7, "req-1"))
        assert first is not None and again == first
        with store.session() as s:
            assert ledger.balances(s, benefit_id="c10").issued == 1
            assert ledger.reconcile(s, counters=g.counters, scope="b/c10") == []
    finally:
        store.close()


def test_a_commit_whose_answer_was_lost_keeps_its_charge(pg_url: str, redis_url: str) -> None:
    """The batch committed but its connection broke before the answer: the row-by-row
    retry finds the grab's own rows, answers with its unit and keeps its charge (giving
    it back would leave the counters below the ledger: an oversell later)."""
    store = Store.open(pg_url)
    try:
        g = _grabber(store, redis_url)

        class LostAnswer(GroupCommit):
            def _insert_pg(self, tables: Any) -> None:
                super()._insert_pg(tables)  # stored and committed
                raise ConnectionError("server closed the connection unexpectedly")

        g.writer = LostAnswer(store, undo=g._undo)
        first = asyncio.run(_grab(g, 7, "req-lost"))
        plain = asyncio.run(_grab(g, 8))  # a fresh key, same path
        assert first is not None and plain is not None
        with store.session() as s:
            units = sorted(s.execute(select(BenefitUnit.unit_id)).scalars())
            assert units == sorted([first, plain])
            assert ledger.balances(s, benefit_id="c10").issued == 2
            assert ledger.reconcile(s, counters=g.counters, scope="b/c10") == []
        assert g.writer.batches == 0  # both answered by the retry, not the batch
    finally:
        store.close()


def test_a_broken_writer_connection_is_replaced(pg_url: str, redis_url: str) -> None:
    """A batch whose connection died is retried row by row; the next batch reconnects."""
    store = Store.open(pg_url)
    try:
        g = _grabber(store, redis_url)
        assert asyncio.run(_grab(g, 1)) is not None
        assert g.writer is not None and g.writer.batches == 1
        (con,) = g.writer._conns
        with store.session() as s:  # as if PostgreSQL had restarted under the writer
            s.execute(select(func.pg_terminate_backend(con.info.backend_pid)))
        assert asyncio.run(_grab(g, 2)) is not None  # stored (by the row-by-row retry)
        assert g.writer.batches == 1 and g.writer._conns == []
        assert asyncio.run(_grab(g, 3)) is not None  # a new connection, one batch again
        assert g.writer.batches == 2 and len(g.writer._conns) == 1
        with store.session() as s:
            assert ledger.balances(s, benefit_id="c10").issued == 3
            assert ledger.reconcile(s, counters=g.counters, scope="b/c10") == []
        g.writer.close()
        assert g.writer._conns == []
    finally:
        store.close()


def test_pending_rows_match_the_ledgers_own_issue(pg_url: str, redis_url: str) -> None:
    """The batched rows are the rows ledger.issue writes (same columns and values)."""
    store = Store.open(pg_url)
    try:
        g = _grabber(store, redis_url)
        unit = asyncio.run(_grab(g, 3))
        ref = ledger.issue(
            store,
            counters=g.counters,
            benefit=coupon(total_stock=50, per_customer_lifetime=1, budget_cents=45_000),
            activity_id="a1",
            customer_id=4,
            now=NOW,
            idem_key="ref",
        )
        with store.session() as s:
            a, b = s.get(BenefitUnit, unit), s.get(BenefitUnit, ref.unit_id)
            assert a is not None and b is not None
            cols = ("benefit_id", "kind", "activity_id", "status", "value_cents")
            assert [getattr(a, c) for c in cols] == [getattr(b, c) for c in cols]
            assert (a.issued_at, a.expires_at) == (b.issued_at, b.expires_at)
        assert isinstance(Pending, type)
    finally:
        store.close()


def test_rate_limit_on_the_event_loop_shares_the_buckets(redis_url: str) -> None:
    """The lean path's non-blocking limiter and the routes' blocking one spend one bucket."""
    limiter = RedisRateLimiter(redis_url, per_second=0.001, capacity=3)
    assert limiter.allow("appsys")  # a route

    async def lean() -> list[bool]:
        return [await limiter.allow_async("appsys") for _ in range(3)]

    assert asyncio.run(lean()) == [True, True, False]
    assert asyncio.run(lean()) == [False] * 3  # a new loop: a new client, same bucket
    assert limiter.allow("other")  # per principal
