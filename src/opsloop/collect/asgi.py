"""The lean ASGI path for tracking calls (``/v1/<call>``, ``/sa``).

Why: SDKs send hundreds of small batches a second, and FastAPI's per-request work
(routing over ~200 routes, dependency resolution, request/response objects, three
middleware layers) cost more CPU than validating the 100 events inside. This wrapper
sits in front of the application and answers tracking calls itself; every other path
(and a tracking path with another method) goes on to the application unchanged.

It keeps what the FastAPI routes do — they remain registered, so the route-protection
and schema tests and the OpenAPI document still see them, and they share this module's
helpers: the same write-key check (cached per ``Authorization`` header), body caps
(413 over the server-wide cap, 400 ``too_large`` over the tracking cap), validation,
error bodies, counters and security headers.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson

from opsloop.access.headers import respond_json
from opsloop.collect.log import LogError
from opsloop.collect.segment import BadEventError
from opsloop.collect.service import Collector
from opsloop.errors import OpsloopError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SEGMENT_CALLS = ("track", "identify", "page", "screen", "alias", "group", "batch")
_SEGMENT_PATHS = {f"/v1/{k}": k for k in SEGMENT_CALLS}
_OK = b'{"success":true}'


class MalformedAuthError(OpsloopError):
    """An ``Authorization: Basic`` header that is not base64 of ``user:password``."""

    status_code = 401


def basic_user(header: str | None) -> str | None:
    """The write key from HTTP Basic auth (user name; password empty), if sent."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        user = base64.b64decode(header[6:].strip(), validate=True).decode().split(":", 1)[0]
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise MalformedAuthError("malformed Basic auth", where="Authorization") from exc
    return user or None


def error_body(exc: OpsloopError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, JSON body and extra headers for a refused tracking call."""
    if isinstance(exc, MalformedAuthError):
        return 401, {"detail": exc.message}, {}
    body: dict[str, Any] = {
        "success": False,
        "detail": exc.message,
        "where": exc.where,
        "error": type(exc).__name__,
    }
    if isinstance(exc, BadEventError):
        body["reason"] = exc.reason
    headers = {"WWW-Authenticate": "Basic"} if exc.status_code == 401 else {}
    return exc.status_code, body, headers


def sensors_form(method: str, raw: bytes, query: dict[str, str]) -> dict[str, str]:
    """SDKs post application/x-www-form-urlencoded; a GET beacon has it in the query."""
    if method == "POST":
        return {k: v[0] for k, v in parse_qs(raw.decode("latin-1")).items()}
    return query


class TrackingFastPath:
    """ASGI wrapper: tracking calls answered here, everything else passed to ``app``.

    Args:
        app: the application behind (its ``state.collector`` is opened by its lifespan).
        max_body_bytes: the server-wide body cap (413 above it, as the app's middleware).
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._keys: dict[bytes, str | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        kind = _SEGMENT_PATHS.get(path)
        sensors = path == "/sa" and method in ("GET", "POST")
        state = getattr(scope.get("app"), "state", None)
        collector: Collector | None = getattr(state, "collector", None)
        if collector is None or not (sensors or (kind is not None and method == "POST")):
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        try:
            status, body, headers = await self._handle(scope, receive, collector, kind, sensors)
        except LogError as exc:
            status, headers = 503, {}
            body = orjson.dumps({"success": False, "detail": f"not stored: {exc}"})
        await respond_json(send, status, body, headers, https)

    async def _handle(
        self, scope: Scope, receive: Receive, collector: Collector, kind: str | None, sa: bool
    ) -> tuple[int, bytes, dict[str, str]]:
        received = datetime.now(UTC)
        auth = encoding = length = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"content-encoding":
                encoding = value
            elif name == b"content-length":
                length = value
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            detail = f"request body over {self.max_body_bytes} bytes"
            body = {"detail": detail, "where": "body", "error": "PayloadTooLarge"}
            return 413, orjson.dumps(body), {}
        try:
            key = self._key(auth)
            cap = (
                2 * collector.limits.max_request_bytes
                if sa
                else (collector.limits.max_request_bytes + 1024)
            )
            raw = await _read_body(receive, cap, length, collector)
            if sa:
                query = {
                    k: v[-1]
                    for k, v in parse_qs(
                        scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
                    ).items()
                }
                form = sensors_form(scope["method"], raw, query)
                project = query.get("project", "default")
                items = collector.prepare_sensors(project, form, received_at=received)
            else:
                assert kind is not None
                items = collector.prepare_segment(
                    kind,
                    raw,
                    content_encoding=encoding.decode("latin-1") if encoding else None,
                    write_key=key,
                    received_at=received,
                )
            await collector.store(items)
        except OpsloopError as exc:  # BadEventError (400), UnauthorizedError (401)
            status, payload, headers = error_body(exc)
            return status, orjson.dumps(payload), headers
        return 200, _OK, {}

    def _key(self, auth: bytes | None) -> str | None:
        """The write key of an ``Authorization`` header, remembered per header value (an
        SDK sends the same one on every call; the key's validity is the resolver's)."""
        if auth is None:
            return None
        try:
            return self._keys[auth]
        except KeyError:
            pass
        user = basic_user(auth.decode("latin-1"))
        if len(self._keys) > 4096:
            self._keys.clear()
        self._keys[auth] = user
        return user


async def _read_body(
    receive: Receive, cap: int, length: bytes | None, collector: Collector
) -> bytes:
    """The body, refusing (400 ``too_large``) once it passes ``cap``, without buffering more."""
    if length is not None and int(length) > cap:
        collector.stats.reject("too_large")
        raise BadEventError("too_large", f"request exceeds {cap} bytes", where="body")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            collector.stats.reject("too_large")
            raise BadEventError("too_large", f"request exceeds {cap} bytes", where="body")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
