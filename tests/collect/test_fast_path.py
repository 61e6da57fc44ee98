"""The lean ASGI path answers tracking calls itself, with the app's guards kept."""

from __future__ import annotations

import base64

import pytest

from collect.conftest import Ingest
from opsloop.collect.asgi import MalformedAuthError, TrackingFastPath, basic_user


def test_tracking_calls_skip_the_router_but_keep_security_headers(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opsloop.api.routers import collect as routes

    called: list[str] = []
    original = routes._ingest

    async def spy(*args: object, **kw: object) -> object:
        called.append("router")
        return await original(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(routes, "_ingest", spy)
    body = {"userId": "1", "event": "e", "messageId": "fp-1"}
    r = ingest.client.post("/v1/track", json=body, auth=ingest.auth)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert called == []  # answered by TrackingFastPath, not the FastAPI route
    for h in ("content-security-policy", "x-content-type-options", "x-frame-options"):
        assert h in r.headers
    assert [m["messageId"] for m in ingest.stored()] == ["fp-1"]
    assert any(m.cls is TrackingFastPath for m in ingest.app.user_middleware)


def test_server_wide_cap_is_413_and_tracking_cap_is_400(ingest: Ingest) -> None:
    huge = b"x" * (11 * 1024 * 1024)
    r = ingest.client.post("/v1/batch", content=huge, auth=ingest.auth)
    assert r.status_code == 413 and r.json()["error"] == "PayloadTooLarge"
    big = b"x" * (600 * 1024)
    r = ingest.client.post("/v1/batch", content=big, auth=ingest.auth)
    assert r.status_code == 400 and r.json()["reason"] == "too_large"
    assert ingest.collector.stats.as_dict()["rejected"]["too_large"] >= 1
    assert ingest.stored() == []


def test_other_methods_and_paths_go_to_the_app(ingest: Ingest) -> None:
    assert ingest.client.get("/v1/track").status_code == 405
    assert ingest.client.get("/api/v1/collect/stats").status_code == 401


def test_malformed_basic_auth_is_401_and_key_cache_does_not_leak() -> None:
    with pytest.raises(MalformedAuthError):
        basic_user("Basic !!!not-base64")
    assert basic_user("Basic " + base64.b64encode(b"olk_abc:").decode()) == "olk_abc"
    assert basic_user("Bearer x") is None and basic_user(None) is None


def test_malformed_auth_over_http(ingest: Ingest) -> None:
    r = ingest.client.post(
        "/v1/track", json={"userId": "1", "event": "e"}, headers={"Authorization": "Basic %%%"}
    )
    assert r.status_code == 401 and r.json() == {"detail": "malformed Basic auth"}
