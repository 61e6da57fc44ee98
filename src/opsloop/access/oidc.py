"""OIDC sign-in against the bank's identity provider (authorization-code flow).

The provider authenticates; opsloop authorises: the ID token's username claim must
name an existing, active opsloop user, whose roles and org unit apply. ID tokens are
verified here (RS256 signature against the provider's JWKS, issuer, audience, expiry,
nonce) with ``cryptography``; state and nonce travel in an HMAC-signed cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from opsloop.access.config import AccessSettings
from opsloop.access.errors import UnauthenticatedError

LEEWAY_SECONDS = 60


def _b64d(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


def discover(issuer: str, *, http: httpx.Client) -> Provider:
    meta = http.get(issuer.rstrip("/") + "/.well-known/openid-configuration").json()
    if meta.get("issuer") != issuer:
        raise UnauthenticatedError("identity provider metadata names another issuer")
    return Provider(
        meta["issuer"], meta["authorization_endpoint"], meta["token_endpoint"], meta["jwks_uri"]
    )


def sign(value: dict[str, str], key: bytes) -> str:
    body = _b64e(json.dumps(value, sort_keys=True).encode())
    mac = _b64e(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def unsign(token: str, key: bytes) -> dict[str, str]:
    body, _, mac = token.partition(".")
    want = _b64e(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not mac or not hmac.compare_digest(mac, want):
        raise UnauthenticatedError("sign-in state is invalid; start again")
    value: dict[str, str] = json.loads(_b64d(body))
    return value


def start(provider: Provider, settings: AccessSettings) -> tuple[str, dict[str, str]]:
    """The URL to send the browser to, and the state/nonce to keep (signed) until it returns."""
    pending = {"state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24)}
    query = {
        "response_type": "code",
        "client_id": settings.oidc_client_id or "",
        "redirect_uri": settings.oidc_redirect_uri or "",
        "scope": "openid profile email",
        **pending,
    }
    return f"{provider.authorization_endpoint}?{urlencode(query)}", pending


def exchange(provider: Provider, settings: AccessSettings, code: str, *, http: httpx.Client) -> str:
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
    resp = http.post(
        provider.token_endpoint,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": settings.oidc_redirect_uri or "",
        },
        auth=(settings.oidc_client_id or "", secret),
    )
    if resp.status_code != 200 or "id_token" not in resp.json():
        raise UnauthenticatedError("the identity provider refused the sign-in code")
    token: str = resp.json()["id_token"]
    return token


def _public_key(jwks: dict[str, Any], kid: str | None) -> rsa.RSAPublicKey:
    for key in jwks.get("keys", []):
        if key.get("kty") == "RSA" and (kid is None or key.get("kid") == kid):
            n = int.from_bytes(_b64d(key["n"]), "big")
            e = int.from_bytes(_b64d(key["e"]), "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
    raise UnauthenticatedError("ID token signed with an unknown key")


def verify_id_token(
    token: str,
    *,
    jwks: dict[str, Any],
    issuer: str,
    audience: str,
    nonce: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The token's claims once signature (RS256), issuer, audience, expiry and nonce hold."""
    try:
        head_b, body_b, sig_b = token.split(".")
        header = json.loads(_b64d(head_b))
        claims: dict[str, Any] = json.loads(_b64d(body_b))
    except ValueError:
        raise UnauthenticatedError("malformed ID token") from None
    if header.get("alg") != "RS256":
        raise UnauthenticatedError("ID token algorithm must be RS256")
    key = _public_key(jwks, header.get("kid"))
    try:
        key.verify(_b64d(sig_b), f"{head_b}.{body_b}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise UnauthenticatedError("ID token signature is invalid") from None
    now = time.time() if now is None else now
    aud = claims.get("aud")
    checks = {
        "issuer": claims.get("iss") == issuer,
        "audience": audience == aud or (isinstance(aud, list) and audience in aud),
        "expiry": float(claims.get("exp", 0)) + LEEWAY_SECONDS > now,
        "nonce": hmac.compare_digest(str(claims.get("nonce", "")), nonce),
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise UnauthenticatedError(f"ID token rejected ({', '.join(bad)})")
    return claims
