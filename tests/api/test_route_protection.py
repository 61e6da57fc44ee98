"""Every route refuses an anonymous caller (401) and a caller without its permission (403).

Generated from the app's route table: a new route without ``require(...)`` (and not on
an explicit allow-list) fails ``test_no_route_is_unprotected``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from access.fixtures import add_user
from opsloop.access.permissions import PERMISSIONS
from opsloop.api.app import create_app
from opsloop.api.deps import PUBLIC_ROUTES, SIGNED_IN_ROUTES, RouteRule, require, route_permissions
from opsloop.settings import Settings

APP = create_app(Settings(home=Path("/nonexistent-opsloop-home"), redis_url=None))
RULES = route_permissions(APP)
GUARDED = [r for r in RULES if r.access in ("permission", "signed-in")]
WITH_PERMISSION = [r for r in RULES if r.access == "permission"]


def _id(rule: RouteRule) -> str:
    return f"{rule.method} {rule.path}"


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_no_route_is_unprotected() -> None:
    assert [_id(r) for r in RULES if r.access == "UNPROTECTED"] == []


def test_allow_lists_name_real_routes() -> None:
    have = {(r.method, r.path) for r in RULES}
    assert have >= PUBLIC_ROUTES
    assert have >= SIGNED_IN_ROUTES


def test_permissions_are_catalogued() -> None:
    for rule in WITH_PERMISSION:  # a route needing several permissions lists them "a,b"
        for permission in rule.permission.split(","):
            assert permission in PERMISSIONS, _id(rule)


def test_a_new_unguarded_route_is_caught() -> None:
    app = FastAPI()

    @app.get("/api/v1/oops")
    def oops() -> dict[str, str]:
        return {}

    @app.get("/api/v1/fine", dependencies=[require("audit:read")])
    def fine() -> dict[str, str]:
        return {}

    rules = {r.path: r for r in route_permissions(app)}
    assert rules["/api/v1/oops"].access == "UNPROTECTED"
    assert rules["/api/v1/fine"].permission == "audit:read"


@pytest.mark.parametrize("rule", GUARDED, ids=_id)
def test_refuses_anonymous(client: TestClient, rule: RouteRule) -> None:
    resp = client.request(rule.method, _url(rule.path))
    assert resp.status_code == 401, resp.text


@pytest.mark.parametrize("rule", WITH_PERMISSION, ids=_id)
def test_refuses_without_the_permission(client: TestClient, rule: RouteRule) -> None:
    assert rule.permission is not None
    others = sorted(set(PERMISSIONS) - set(rule.permission.split(",")))
    headers = add_user(client.app.state.store, "almighty", roles=["admin"], scopes=others)  # type: ignore[attr-defined]
    resp = client.request(rule.method, _url(rule.path), headers=headers)
    assert resp.status_code == 403, resp.text


WRITE_KEY = [r for r in RULES if r.access == "write-key"]


def test_tracking_routes_are_write_key_routes() -> None:
    paths = {r.path for r in WRITE_KEY}
    assert {"/v1/track", "/v1/batch", "/sa"} <= paths


@pytest.mark.parametrize("rule", WRITE_KEY, ids=_id)
def test_write_key_routes_refuse_staff_credentials_and_revoked_keys(
    client: TestClient, rule: RouteRule
) -> None:
    """A tracking route takes only a live write key: no key, a staff token, a revoked key → 401."""
    from opsloop.collect import sources

    store = client.app.state.store  # type: ignore[attr-defined]
    event = {"type": "track", "event": "app_open", "userId": "1", "messageId": "m-1"}
    body = {"batch": [event]} if rule.path == "/v1/batch" else event
    url = _url(rule.path)
    resp = client.request(rule.method, url, json=body)
    assert resp.status_code == 401, resp.text
    staff = add_user(store, "admin-for-keys", roles=["admin"])
    token = staff["Authorization"].removeprefix("Bearer ")
    resp = client.request(rule.method, url, json=body, auth=(token, ""))
    assert resp.status_code == 401, resp.text
    kind = "sensors" if rule.path == "/sa" else "segment"
    info, key = sources.create_source(store, name=f"revoked-{kind}", kind=kind)
    sources.revoke_source(store, name=info.name)
    client.app.state.collector.resolver.clear()  # type: ignore[attr-defined]
    if rule.path == "/sa":
        resp = client.request(rule.method, f"/sa?project={info.name}", data={"data": "e30="})
    else:
        resp = client.request(rule.method, url, json=body, auth=(key, ""))
    assert resp.status_code == 401, resp.text
