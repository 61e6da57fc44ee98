"""Size limits, strict models, rate limits, security headers."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from access.fixtures import add_user
from opsloop.access.config import AccessSettings
from opsloop.api.app import create_app
from opsloop.settings import Settings


def test_oversized_bodies_get_413(client: TestClient) -> None:
    h = add_user(client.app.state.store, "big", roles=["admin"])  # type: ignore[attr-defined]
    huge = "x" * (11 * 1024 * 1024)
    resp = client.post("/api/v1/warehouse/query", content=huge, headers=h)
    assert resp.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(12):
            yield b"y" * (1024 * 1024)

    resp = client.post("/api/v1/warehouse/query", content=chunks(), headers=h)
    assert resp.status_code == 413


def test_unknown_fields_are_refused_and_values_not_echoed(client: TestClient) -> None:
    h = add_user(client.app.state.store, "strict", roles=["admin"])  # type: ignore[attr-defined]
    body = {"username": "newbie", "org_id": "HO", "password": "Sup3r-Secret-Value!", "admin": 1}
    resp = client.post("/api/v1/users", json=body, headers=h)
    assert resp.status_code == 422
    assert "admin" in resp.text and "Sup3r-Secret-Value!" not in resp.text


def test_security_headers(client: TestClient) -> None:
    resp = client.get("/api/v1/health")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert "max-age" in resp.headers["strict-transport-security"]
    plain = TestClient(client.app, base_url="http://testserver").get("/api/v1/health")
    assert "strict-transport-security" not in plain.headers


def _limited_app(settings: Settings) -> TestClient:
    access = AccessSettings(rate_per_minute=1, rate_burst=3)
    return TestClient(create_app(settings, access=access, local_token="lt"), base_url="https://t")


def test_rate_limit_per_principal_in_memory(settings: Settings) -> None:
    with _limited_app(settings) as c:
        h = {"Authorization": "Bearer lt"}
        codes = [c.get("/api/v1/auth/me", headers=h).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]


def test_rate_limit_in_redis_is_shared(settings: Settings, redis_url: str) -> None:
    shared = settings.model_copy(update={"redis_url": redis_url})
    h = {"Authorization": "Bearer lt"}
    with _limited_app(shared) as one, _limited_app(shared) as two:
        codes = [c.get("/api/v1/auth/me", headers=h).status_code for c in (one, two, one, two)]
    assert codes == [200, 200, 200, 429]
