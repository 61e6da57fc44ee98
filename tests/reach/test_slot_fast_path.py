"""The slot fast path answers without the router and exactly as the FastAPI route would.

Two applications on the same store and warehouse: the real one (fast path in front) and
one built the same way with the fast path taken out of its middleware, so every request
reaches the FastAPI route. Each request goes to both; status, body and headers must be
equal. A recorder around the real app shows which requests the router saw (Starlette
writes the matched ``endpoint`` into the scope), and a counting override of the auth
dependency shows it was never called for the requests the fast path took.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from httpx import Response

from access.fixtures import OPEN_LIMITS, add_user, app, settings
from opsloop.access import roles
from opsloop.access.config import AccessSettings
from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.access.schemas import RoleCreate
from opsloop.api.app import create_app
from opsloop.api.deps import StoreDep, current_principal
from opsloop.reach import service
from opsloop.reach.asgi import TEMPLATE, FastRoute, SlotFastPath
from opsloop.runtime.metrics import REQUEST_LATENCY
from opsloop.settings import Settings
from opsloop.store import Store

__all__ = ["app", "settings"]
LOCAL = "local-test-token"


@dataclass
class Recorder:
    """ASGI wrapper keeping the last HTTP scope (Starlette mutates it while routing)."""

    app: Any
    last: dict[str, Any] = field(default_factory=dict)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.last = scope
        await self.app(scope, receive, send)


def _without_fast_path(settings: Settings, access: AccessSettings) -> FastAPI:
    ref = create_app(settings, access=access, local_token=LOCAL)
    ref.user_middleware = [m for m in ref.user_middleware if m.cls is not SlotFastPath]
    return ref


@dataclass
class Pair:
    fast: TestClient
    ref: TestClient
    recorder: Recorder
    auth_calls: list[str]
    store: Store

    def both(self, url: str, headers: dict[str, str] | None = None) -> tuple[Response, Response]:
        return self.fast.get(url, headers=headers), self.ref.get(url, headers=headers)

    def routed(self) -> bool:
        return self.recorder.last.get("endpoint") is not None


def _headers(r: Response) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in r.headers.items())


def _pair(settings: Settings, fast_app: FastAPI, access: AccessSettings) -> Iterator[Pair]:
    calls: list[str] = []

    def counting(request: Request, store: StoreDep) -> Principal:
        calls.append(request.url.path)
        return current_principal(request, store)

    fast_app.dependency_overrides[current_principal] = counting
    recorder = Recorder(fast_app)
    ref_app = _without_fast_path(settings, access)
    with (
        TestClient(recorder, base_url="https://testserver") as fast,
        TestClient(ref_app, base_url="https://testserver") as ref,
    ):
        store: Store = fast_app.state.store
        yield Pair(fast, ref, recorder, calls, store)


@pytest.fixture
def pair(app: FastAPI, settings: Settings) -> Iterator[Pair]:
    yield from _pair(settings, app, OPEN_LIMITS)


def _add_content(store: Store) -> None:
    now = datetime.now(UTC)
    for title, prio, who in (("通用", 1, None), ("VIP专享", 9, [2, 9])):
        body = service.SlotContentIn(
            slot="home-banner",
            title=title,
            link="https://bank.example/p",
            priority=prio,
            customer_ids=who,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=1),
        )
        service.add_slot_content(store, principal=LOCAL_OPERATOR, body=body, now=now)


def test_fast_path_answers_like_the_route_without_reaching_the_router(pair: Pair) -> None:
    store = pair.store
    _add_content(store)
    for a in (pair.recorder.app, pair.ref.app):  # both indexes see the new contents now
        a.state.reach_slots.refresh()
    admin = add_user(store, "admin", roles=["admin"])
    with store.session() as s:
        body = RoleCreate(name="branch_app", permissions=["reach:serve"])
        roles.create_role(session=s, actor=LOCAL_OPERATOR, body=body)
    branch = add_user(store, "b01app", roles=["branch_app"], org_id="B01")
    no_serve = add_user(store, "op", roles=["operator"])
    local = {"Authorization": f"Bearer {LOCAL}"}
    url = "/api/v1/slots/home-banner?customer_id="
    # (url, headers, expected status, expected to be answered by the fast path)
    cases: list[tuple[str, dict[str, str] | None, int, bool]] = [
        (url + "1", admin, 200, True),
        (url + "2", admin, 200, True),
        (url + "9&x=1", admin, 200, True),
        ("/api/v1/slots/empty?customer_id=2", admin, 200, True),
        (url + "1", local, 200, True),
        (url + "2", branch, 200, True),  # customer 2 is in B01's subtree
        (url + "9", branch, 404, True),  # customer 9 is in B02's: out of scope
        (url + "1", no_serve, 403, True),  # operators lack reach:serve
        (url + "1", None, 401, True),
        (url + "1", {"Authorization": "Bearer opl_not-a-token"}, 401, True),
        (url + "1", {"Authorization": "Bearer something-else"}, 401, True),
        (url + "1", {"Authorization": "Bearer "}, 401, True),
        # left to FastAPI: its own 422s and schemes, identical by construction
        (url + "abc", admin, 422, False),
        (url + "-1", admin, 422, False),
        ("/api/v1/slots/home-banner", admin, 422, False),
        ("/api/v1/slots/Bad?customer_id=1", admin, 422, False),
        (url + str(2**62 + 1), admin, 422, False),
        (url + "1", {"Authorization": "Basic dTpw"}, 401, False),
        (url + "1", {"Authorization": "Bearer x", "Cookie": "a=b"}, 401, False),
    ]
    for target, headers, status, fast in cases:
        before = len(pair.auth_calls)
        got, want = pair.both(target, headers)
        where = f"{target} {headers}"
        assert want.status_code == status, (where, want.text)
        assert got.status_code == want.status_code, where
        assert got.content == want.content, where
        assert _headers(got) == _headers(want), where
        assert pair.routed() is not fast, where
        if fast:
            assert isinstance(pair.recorder.last["route"], FastRoute), where
            assert len(pair.auth_calls) == before, where  # the dependency never ran
    bodies = {
        c: pair.fast.get(url + str(c), headers=admin).json()["content"]["title"] for c in (1, 2, 9)
    }
    assert bodies == {1: "通用", 2: "VIP专享", 9: "VIP专享"}
    assert "strict-transport-security" in pair.fast.get(url + "1", headers=admin).headers


def test_rate_limit_answers_match(app: FastAPI, settings: Settings) -> None:
    tight = AccessSettings(rate_per_minute=0.001, rate_burst=2)
    fast_app = create_app(settings, access=tight, local_token=LOCAL)
    for pair in _pair(settings, fast_app, tight):
        admin = add_user(pair.store, "admin", roles=["admin"])
        got = [pair.fast.get("/api/v1/slots/a?customer_id=1", headers=admin) for _ in range(3)]
        want = [pair.ref.get("/api/v1/slots/a?customer_id=1", headers=admin) for _ in range(3)]
        assert [r.status_code for r in want] == [200, 200, 429]
        assert [(r.status_code, r.content, _headers(r)) for r in got] == [
            (r.status_code, r.content, _headers(r)) for r in want
        ]
        assert not pair.routed() and pair.auth_calls == []


def test_metrics_label_the_fast_path_by_its_template(pair: Pair) -> None:
    admin = add_user(pair.store, "admin", roles=["admin"])
    child = REQUEST_LATENCY.labels("GET", TEMPLATE, "200")
    before = child._sum.get()  # type: ignore[attr-defined]
    count = sum(
        s.value
        for m in REQUEST_LATENCY.collect()
        for s in m.samples
        if s.name.endswith("_count") and s.labels.get("route") == TEMPLATE
    )
    assert pair.fast.get("/api/v1/slots/x?customer_id=3", headers=admin).status_code == 200
    after = sum(
        s.value
        for m in REQUEST_LATENCY.collect()
        for s in m.samples
        if s.name.endswith("_count") and s.labels.get("route") == TEMPLATE
    )
    assert after == count + 1
    assert child._sum.get() > before  # type: ignore[attr-defined]
