"""Sign-in: cookies, CSRF, lockout, password policy; API tokens: scoped, expiring, revocable."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from access.fixtures import PASSWORD, add_user
from opsloop.access import credentials
from opsloop.access.clock import utcnow
from opsloop.access.models import ApiToken
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.access.schemas import TokenCreate


def _login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    resp = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return {"X-CSRF-Token": resp.json()["csrf_token"]}


def test_session_cookie_is_locked_down(client: TestClient) -> None:
    add_user(client.app.state.store, "ann", roles=["admin"])  # type: ignore[attr-defined]
    resp = client.post("/api/v1/auth/login", json={"username": "ann", "password": PASSWORD})
    cookie = next(c for c in resp.headers.get_list("set-cookie") if "opsloop_session=" in c)
    low = cookie.lower()
    assert "httponly" in low and "secure" in low and "samesite=strict" in low
    assert client.get("/api/v1/auth/me").json()["id"] == "ann"


def test_unsafe_requests_with_a_session_need_the_csrf_token(client: TestClient) -> None:
    add_user(client.app.state.store, "ben", roles=["admin"])  # type: ignore[attr-defined]
    csrf = _login(client, "ben")
    role = {"name": "viewer", "permissions": ["customer:read"]}
    resp = client.post("/api/v1/roles", json=role)
    assert resp.status_code == 403 and resp.json()["where"] == "csrf"
    wrong = client.post("/api/v1/roles", json=role, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    assert client.post("/api/v1/roles", json=role, headers=csrf).status_code == 201
    assert client.post("/api/v1/auth/logout", headers=csrf).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_lockout_after_repeated_failures(client: TestClient) -> None:
    add_user(client.app.state.store, "cat", roles=["analyst"])  # type: ignore[attr-defined]
    for _ in range(5):
        bad = client.post("/api/v1/auth/login", json={"username": "cat", "password": "x"})
        assert bad.status_code == 401
    locked = client.post("/api/v1/auth/login", json={"username": "cat", "password": PASSWORD})
    assert locked.status_code == 401 and "locked" in locked.json()["detail"]
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401


def test_password_policy(client: TestClient) -> None:
    admin = add_user(client.app.state.store, "dan", roles=["admin"])  # type: ignore[attr-defined]
    for weak in ("short1!A", "alllowercaseletters", "Xdan-is-my-name-1"):
        body = {"username": "dan2" if "dan" not in weak else "dan", "password": weak}
        body |= {"org_id": "HO", "roles": []}
        if body["username"] == "dan":
            body["username"] = "danny"
            body["password"] = "Danny-password-1!"
        resp = client.post("/api/v1/users", json=body, headers=admin)
        assert resp.status_code == 400 and resp.json()["where"] == "password", weak


def test_tokens_are_scoped_hashed_revocable_and_expire(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    admin = add_user(store, "eve", roles=["admin"])
    body = {"name": "crm", "scopes": ["customer:read"], "expires_in_days": 1}
    created = client.post("/api/v1/tokens", json=body, headers=admin).json()
    h = {"Authorization": f"Bearer {created['token']}"}
    assert client.get("/api/v1/customers/count", headers=h).status_code == 200
    assert client.get("/api/v1/audit", headers=h).status_code == 403  # not in scopes
    with store.session() as s:
        hashes = list(s.execute(select(ApiToken.token_hash)).scalars())
        assert created["token"] not in hashes
        assert credentials.digest(created["token"]) in hashes
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=admin).status_code == 200
    assert client.get("/api/v1/customers/count", headers=h).status_code == 401
    with store.session() as s:
        tok = credentials.create_token(
            session=s,
            actor=LOCAL_OPERATOR,
            body=TokenCreate(name="old", username="eve", scopes=["customer:read"]),
            now=utcnow() - timedelta(days=91),
        )
    old = {"Authorization": f"Bearer {tok.token}"}
    assert client.get("/api/v1/customers/count", headers=old).status_code == 401


def test_a_token_cannot_exceed_its_creator(client: TestClient) -> None:
    store = client.app.state.store  # type: ignore[attr-defined]
    h = add_user(store, "fay", roles=["admin"], scopes=["token:manage", "customer:read"])
    body = {"name": "x", "scopes": ["pii:view"]}
    assert client.post("/api/v1/tokens", json=body, headers=h).status_code == 403


def test_local_operator_token_is_bank_wide_and_audited(client: TestClient) -> None:
    h = {"Authorization": "Bearer local-test-token"}
    body = {"sql": "select count(*) as n from customers"}
    assert client.post("/api/v1/warehouse/query", json=body, headers=h).json()["rows"] == [
        {"n": 12}
    ]
    with client.app.state.store.session() as s:  # type: ignore[attr-defined]
        actors = s.execute(text("select actor, action from audit_log")).all()
    assert ("local-operator", "use.warehouse:query") in [tuple(a) for a in actors]
