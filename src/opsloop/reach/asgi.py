"""The lean ASGI path for slot decisions (``GET /api/v1/slots/{slot}?customer_id=``).

Why: the app asks on every screen view, in its page-load path. The decision is an
in-memory lookup of a few microseconds, but through FastAPI a call cost ~1.6 ms of CPU:
routing over ~200 routes, three middleware layers, dependency resolution and two
thread-pool hops for the sync auth dependencies (``current_principal``, ``require``).
This wrapper sits in front of the application (inside the metrics middleware, like
Collection's tracking fast path) and answers the well-formed calls itself.

What it keeps, exactly as the route does (a test compares both, status, body and headers):

- the caller from ``Authorization: Bearer`` — the local operator token, or an API token
  through the per-process verification cache of :mod:`opsloop.access.credentials` (a
  cache miss is verified on a worker thread, as the route's dependency would be);
- the per-principal rate limit (429; called inline: the in-memory limiter costs
  microseconds, the Redis one of the production profile one round trip during which
  this process's loop waits), the ``reach:serve`` permission (403), the data
  scope (a caller who is not bank-wide gets 404 for a customer outside their scope;
  the scoped warehouse query runs on a worker thread);
- the error bodies (``{"detail": ...}`` with ``WWW-Authenticate`` / ``Retry-After``),
  the security headers, and the request metric labelled ``/api/v1/slots/{slot}``.

What it leaves to the application, unchanged, so the answers cannot differ: anything that
is not a ``GET`` with a valid slot name and a plain decimal ``customer_id`` (FastAPI
then produces its own 422), a request carrying a body, and callers that authenticate with
the console's session cookie instead of a bearer token. The FastAPI route stays
registered for the OpenAPI document, the route-protection test and those cases.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
import orjson

from opsloop.access.credentials import TOKEN_PREFIX, token_principal, verify_token_cached
from opsloop.access.headers import respond_json
from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.collect.asgi import ASGIApp, Receive, Scope, Send
from opsloop.reach import service
from opsloop.reach.slots import SlotIndex
from opsloop.store import Store

PREFIX = "/api/v1/slots/"
TEMPLATE = "/api/v1/slots/{slot}"
PERMISSION = "reach:serve"
# The route's Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$").
_SLOT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# Plain decimals only; anything else ("+1", " 1", "1_0", "01") is left to FastAPI.
_ID = re.compile(r"0|[1-9][0-9]{0,18}")
_MAX_ID = 2**62


@dataclass(frozen=True, slots=True)
class FastRoute:
    """Put in ``scope["route"]`` so the metrics middleware labels the request by template."""

    path: str


_ROUTE = FastRoute(TEMPLATE)


class _MissError(Exception):
    """The token is not in the verification cache (verify it off the event loop)."""


def _no_io() -> Principal | None:
    raise _MissError


def customer_id_of(query_string: bytes) -> int | None:
    """``customer_id`` as Starlette reads it (the last one wins), if a plain decimal in range."""
    value = None
    for name, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name == "customer_id":
            value = v
    if value is None or not _ID.fullmatch(value):
        return None
    n = int(value)
    return n if n <= _MAX_ID else None


def _error(status: int, detail: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    return status, orjson.dumps({"detail": detail}), headers


class SlotFastPath:
    """ASGI wrapper: well-formed slot decisions answered here, everything else passed on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        slot = scope["path"][len(PREFIX) :]
        state = getattr(scope.get("app"), "state", None)
        index: SlotIndex | None = getattr(state, "reach_slots", None)
        customer_id = customer_id_of(scope.get("query_string", b""))
        auth: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value if auth is None else auth  # the first one, as Starlette reads
            elif name in (b"cookie", b"content-length", b"transfer-encoding"):
                break  # session callers and bodies: the application's business
        else:
            if (
                index is not None
                and customer_id is not None
                and _SLOT.fullmatch(slot)
                and (auth is None or auth[:7].lower() == b"bearer ")
            ):
                token = auth[7:].decode("latin-1").strip() if auth is not None else ""
                status, body, headers = await self._answer(state, index, token, slot, customer_id)
                scope["route"] = _ROUTE
                await respond_json(send, status, body, headers, scope.get("scheme") == "https")
                return
        await self.app(scope, receive, send)

    async def _answer(
        self, state: Any, index: SlotIndex, token: str, slot: str, customer_id: int
    ) -> tuple[int, bytes, dict[str, str]]:
        principal = await _principal(state, token)
        if principal is None:
            return _error(401, "sign in or send an API token", **{"WWW-Authenticate": "Bearer"})
        if not state.rate_limiter.allow(principal.id):
            return _error(429, "too many requests; slow down", **{"Retry-After": "1"})
        if not principal.can(PERMISSION):
            return _error(403, f"needs permission {PERMISSION}")
        if not principal.bank_wide and not await anyio.to_thread.run_sync(
            service.in_scope, state.warehouse, principal, [customer_id]
        ):
            return _error(404, f"no customer {customer_id}")
        return 200, orjson.dumps(index.answer(slot, customer_id)), {}


async def _principal(state: Any, token: str) -> Principal | None:
    """The bearer token's principal as ``opsloop.api.deps`` resolves it (no cookie here)."""
    if not token:
        return None
    local: str = state.local_token
    if hmac.compare_digest(token.encode(), local.encode()):
        return LOCAL_OPERATOR
    if not token.startswith(TOKEN_PREFIX):
        return None  # token_principal's answer, without opening a session
    try:
        return verify_token_cached(token, _no_io)
    except _MissError:
        pass
    store: Store = state.store

    def verify() -> Principal | None:
        with store.session() as s:
            return token_principal(session=s, token=token)

    return await anyio.to_thread.run_sync(verify_token_cached, token, verify)
