"""Pure-ASGI guards in front of every route: request size cap and security headers."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsloop.access.headers import CSP, HSTS, security_headers

# Swagger UI / ReDoc load their assets from a CDN.
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data: https://fastapi.tiangolo.com; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "worker-src 'self' blob:; frame-ancestors 'none'"
)
_DOCS = ("/docs", "/redoc")


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = orjson.dumps({"detail": detail, "where": "body", "error": "PayloadTooLarge"})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for bodies over ``max_bytes``, by Content-Length or by counting a chunked stream."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"request body over {self.max_bytes} bytes"
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await _send_json(send, 413, detail)
                return
        seen = 0
        started = answered = False

        async def counted() -> Message:
            # Past the cap: answer 413 ourselves, then tell the app the client left.
            nonlocal seen, answered
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes and not answered:
                answered = True
                if not started:
                    await _send_json(send, 413, detail)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, guarded_send)


class SecurityHeadersMiddleware:
    """CSP, nosniff, frame denial, referrer policy; HSTS when the request came over HTTPS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = _DOCS_CSP if path.startswith(_DOCS) else CSP
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                extra = security_headers(csp)
                if https:
                    extra.append(HSTS)
                have = {k.lower() for k, _ in headers}
                headers.extend(h for h in extra if h[0] not in have)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
