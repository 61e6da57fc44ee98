"""The security headers every answer carries, defined once.

:class:`opsloop.api.middleware.SecurityHeadersMiddleware` adds them to what FastAPI
answers; the lean pure-ASGI paths (tracking, participation, slots) write them
themselves, so all three must use the same list or their answers would drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)


def security_headers(csp: str = CSP) -> list[tuple[bytes, bytes]]:
    """CSP, nosniff, frame denial, referrer policy, opener isolation, no caching."""
    return [
        (b"content-security-policy", csp.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]


SECURITY_HEADERS = security_headers()
HSTS = (b"strict-transport-security", b"max-age=31536000")  # only over HTTPS


async def respond_json(
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    status: int,
    body: bytes,
    extra: Mapping[str, str],
    https: bool,
) -> None:
    """A lean path's JSON answer with the same security headers as the routes'."""
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
    ]
    if https:
        headers.append(HSTS)
    headers.extend((k.lower().encode(), v.encode()) for k, v in extra.items())
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
