"""The security headers every answer carries, defined once.

:class:`opsloop.api.middleware.SecurityHeadersMiddleware` adds them to what FastAPI
answers; the lean pure-ASGI paths (tracking, participation, slots) write them
themselves, so all three must use the same list or their answers would drift apart.
"""

from __future__ import annotations

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
