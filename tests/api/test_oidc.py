"""OIDC sign-in against a tiny identity provider served by a real local HTTP server."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi.testclient import TestClient

from access.fixtures import add_user, seed_bank
from opsloop.access.config import AccessSettings
from opsloop.api.app import create_app
from opsloop.settings import Settings

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def make_jwt(claims: dict[str, Any], key: rsa.RSAPrivateKey = KEY) -> str:
    head = _b64(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64(sig)}"


class Provider:
    """Discovery, JWKS and a token endpoint; ``codes`` maps a code to its ID-token claims."""

    def __init__(self) -> None:
        self.codes: dict[str, dict[str, Any]] = {}
        self.sign_with: rsa.RSAPrivateKey = KEY
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _json(self, body: dict[str, Any], status: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": provider.issuer,
                            "authorization_endpoint": provider.issuer + "/authorize",
                            "token_endpoint": provider.issuer + "/token",
                            "jwks_uri": provider.issuer + "/jwks",
                        }
                    )
                elif self.path == "/jwks":
                    pub = KEY.public_key().public_numbers()
                    key = {"kty": "RSA", "kid": "k1", "n": _int(pub.n), "e": _int(pub.e)}
                    self._json({"keys": [key]})
                else:
                    self._json({}, 404)

            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                form = parse_qs(self.rfile.read(length).decode())
                claims = provider.codes.pop(form["code"][0], None)
                if claims is None:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                self._json({"id_token": make_jwt(claims, provider.sign_with)})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def idp() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.server.shutdown()
    p.server.server_close()


@pytest.fixture
def oidc_client(settings: Settings, idp: Provider) -> Iterator[TestClient]:
    seed_bank(settings)
    access = AccessSettings(
        oidc_issuer=idp.issuer,
        oidc_client_id="opsloop",
        oidc_client_secret="s3cret",  # type: ignore[arg-type]
        oidc_redirect_uri="https://testserver/api/v1/auth/oidc/callback",
    )
    with TestClient(create_app(settings, access=access), base_url="https://testserver") as c:
        yield c


def _begin(client: TestClient) -> dict[str, str]:
    resp = client.get("/api/v1/auth/oidc/login", follow_redirects=False)
    assert resp.status_code == 302
    query = parse_qs(urlparse(resp.headers["location"]).query)
    assert query["client_id"] == ["opsloop"] and query["response_type"] == ["code"]
    return {"state": query["state"][0], "nonce": query["nonce"][0]}


def _claims(idp: Provider, nonce: str, **over: Any) -> dict[str, Any]:
    claims = {
        "iss": idp.issuer,
        "aud": "opsloop",
        "sub": "u-1",
        "preferred_username": "olga",
        "nonce": nonce,
        "exp": time.time() + 300,
    }
    return claims | over


def test_oidc_sign_in_opens_a_session_for_the_mapped_user(
    oidc_client: TestClient, idp: Provider
) -> None:
    add_user(oidc_client.app.state.store, "olga", roles=["analyst"], org_id="B01")  # type: ignore[attr-defined]
    pending = _begin(oidc_client)
    idp.codes["c1"] = _claims(idp, pending["nonce"])
    resp = oidc_client.get(
        f"/api/v1/auth/oidc/callback?code=c1&state={pending['state']}", follow_redirects=False
    )
    assert resp.status_code == 302, resp.text
    me = oidc_client.get("/api/v1/auth/me").json()
    assert me["id"] == "olga" and me["org_path"] == "/HO/B01/"


@pytest.mark.parametrize(
    "problem", ["wrong_state", "wrong_nonce", "expired", "wrong_audience", "forged", "unknown_user"]
)
def test_oidc_refuses_bad_answers(oidc_client: TestClient, idp: Provider, problem: str) -> None:
    add_user(oidc_client.app.state.store, "olga", roles=["analyst"])  # type: ignore[attr-defined]
    pending = _begin(oidc_client)
    over: dict[str, Any] = {
        "wrong_nonce": {"nonce": "other"},
        "expired": {"exp": time.time() - 3600},
        "wrong_audience": {"aud": "someone-else"},
        "unknown_user": {"preferred_username": "mallory"},
    }.get(problem, {})
    idp.codes["c2"] = _claims(idp, pending["nonce"]) | over
    if problem == "forged":
        idp.sign_with = OTHER_KEY
    state = "tampered" if problem == "wrong_state" else pending["state"]
    resp = oidc_client.get(
        f"/api/v1/auth/oidc/callback?code=c2&state={state}", follow_redirects=False
    )
    assert resp.status_code == 401, resp.text
    assert oidc_client.get("/api/v1/auth/me").status_code == 401


def test_oidc_disabled_by_default(client: TestClient) -> None:
    assert client.get("/api/v1/auth/oidc/login", follow_redirects=False).status_code == 401
