"""The lean ASGI path for ``POST /api/v1/activities/{activity_id}/participate``.

Why: a coupon grab's own work is one Redis pipeline, one Lua call and a share of a
batched commit, but FastAPI's per-request machinery (routing over ~200 routes,
dependency solving, request/response objects, the middleware layers, the threadpool
hop of a sync route) cost ~3 ms of CPU per request — the coupon-grab goal cannot be met
through it on two cores. This wrapper sits in front of the application (inside the
metrics middleware) and answers participation calls itself; every other request goes
on to the application unchanged, like Collection's tracking path
(:mod:`opsloop.collect.asgi`).

What it keeps from the route (which stays registered, for OpenAPI, the route-protection
test and ``docs/security.md``):

- **auth**: the same bearer-token check (the local operator token, or an API token
  through :func:`opsloop.access.credentials.verify_token_cached`), the same rate
  limiter, the same permission ``activity:participate``;
- **data scope**: a caller that is not bank-wide gets 404 for a customer outside its
  subtree (the same scoped query, in a worker thread);
- **validation**: the same Pydantic body (:class:`opsloop.activity.schemas.ParticipateBody`)
  and path pattern;
- **errors**: the same ``{"detail", "where", "error"}`` bodies and status codes, the
  same security headers; the metrics middleware labels the call by its route template.

Whatever it would answer differently it does not answer: a request without a bearer
token, with an unknown token or without the permission, with a body that is not
``application/json`` under the size cap, or with a body that fails validation is handed
to the application with its body replayed, so FastAPI produces the very same 401 / 403
/ 413 / 422 it always did.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from opsloop.access.credentials import token_principal, verify_token_cached
from opsloop.access.headers import respond_json
from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.activity import scope as activity_scope
from opsloop.activity import service
from opsloop.activity.schemas import ParticipateBody
from opsloop.errors import OpsloopError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PERMISSION = "activity:participate"
TEMPLATE = "/api/v1/activities/{activity_id}/participate"
_PATH = re.compile(r"/api/v1/activities/([a-z0-9]{1,64})/participate")
_TOO_FAST = orjson.dumps({"detail": "too many requests; slow down"})


@dataclass(frozen=True)
class _Route:
    """What the metrics middleware reads from ``scope["route"]``: the template."""

    path: str


_ROUTE = _Route(TEMPLATE)


class ParticipateFastPath:
    """ASGI wrapper: participation answered here, everything else passed to ``app``.

    Args:
        app: the application behind (its lifespan opens ``state.store``/``warehouse``).
        max_body_bytes: the server-wide body cap (bigger bodies go to the application,
            whose middleware answers 413).
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.answered = 0  # calls answered here (tests check the router was not reached)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _PATH.fullmatch(scope["path"])
        state: Any = getattr(scope.get("app"), "state", None)
        if match is None or getattr(state, "store", None) is None:
            await self.app(scope, receive, send)
            return
        auth = length = ctype = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"content-length":
                length = value
            elif name == b"content-type":
                ctype = value
        principal = self._principal(state, auth)
        if (
            principal is None
            or not principal.can(PERMISSION)
            or length is None
            or not length.isdigit()
            or int(length) > self.max_body_bytes
            or ctype is None
            or not ctype.lower().startswith(b"application/json")
        ):
            await self.app(scope, receive, send)  # the application answers as it always did
            return
        raw = await _read(receive)
        if raw is None:  # the client left
            return
        try:
            body = ParticipateBody.model_validate_json(raw)
        except ValidationError:
            await self.app(scope, _replay(raw, receive), send)  # FastAPI's own 422
            return
        https = scope.get("scheme") == "https"
        scope["route"] = _ROUTE
        if not await state.rate_limiter.allow_async(principal.id):
            await respond_json(send, 429, _TOO_FAST, {"retry-after": "1"}, https)
            return
        self.answered += 1
        try:
            out = await self._participate(state, principal, match.group(1), body)
        except OpsloopError as exc:
            payload = {"detail": exc.message, "where": exc.where, "error": type(exc).__name__}
            await respond_json(send, exc.status_code, orjson.dumps(payload), {}, https)
            return
        await respond_json(send, 200, orjson.dumps(out.__dict__), {}, https)

    @staticmethod
    def _principal(state: Any, auth: bytes | None) -> Principal | None:
        """The caller of a bearer token, as :func:`opsloop.api.deps.current_principal`."""
        if auth is None or auth[:7].lower() != b"bearer ":
            return None
        token = auth[7:].strip().decode("latin-1")
        if not token:
            return None
        local: str = state.local_token
        if hmac.compare_digest(token.encode(), local.encode()):
            return LOCAL_OPERATOR
        store = state.store

        def verify() -> Principal | None:
            with store.session() as s:
                return token_principal(session=s, token=token)

        # Cached per process for 2 s: a miss (one read + update) runs here, on the loop.
        return verify_token_cached(token, verify)

    @staticmethod
    async def _participate(
        state: Any, principal: Principal, activity_id: str, body: ParticipateBody
    ) -> service.Outcome:
        if not principal.bank_wide:
            await asyncio.to_thread(
                activity_scope.need, state.warehouse, principal, body.customer_id
            )
        rt = service.runtime_for(state)
        req = service.Request(**body.model_dump())
        return await service.participate_async(rt=rt, activity_id=activity_id, req=req)


async def _read(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(raw: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the application the body already read, then the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay
