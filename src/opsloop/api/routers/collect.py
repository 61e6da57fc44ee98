"""Collection routes: the Segment-compatible tracking API, the Sensors endpoint, admin.

``router`` is mounted at the server root (SDKs call ``/v1/track``, ``/v1/batch`` …,
``/sa``) and authenticates by *write key*, not staff credentials: every route depends
on :func:`require_write_key`, whose ``required_permission`` marks it for the
route-protection test. ``admin_router`` (under ``/api/v1``) manages sources and shows
the counters, with staff permissions. A 200 from an ingest route means fsync'd.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from opsloop.access.principal import Principal
from opsloop.access.scope import require_bank_wide
from opsloop.api.deps import StoreDep, WarehouseDep, client_ip, require
from opsloop.collect import consent, sources
from opsloop.collect.asgi import (
    SEGMENT_CALLS,
    MalformedAuthError,
    basic_user,
    error_body,
    sensors_form,
)
from opsloop.collect.flush import Flusher
from opsloop.collect.log import LogError
from opsloop.collect.segment import BadEventError
from opsloop.collect.service import Collector
from opsloop.errors import OpsloopError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the event log and start the warehouse flusher (inside the app's lifespan,
    so the store and warehouse are already open)."""
    settings = app.state.settings
    collector = Collector.open(settings.home, app.state.store, redis_url=settings.redis_url)
    flusher = Flusher(collector.log, store=app.state.store, warehouse=app.state.warehouse)
    app.state.collector = collector
    app.state.collect_flusher = flusher
    try:
        yield
    finally:
        flusher.stop()
        collector.close()


router = APIRouter(tags=["collect"], lifespan=lifespan)
admin_router = APIRouter(prefix="/collect", tags=["collect"])


def require_write_key(request: Request) -> str | None:
    """The write key from HTTP Basic auth (user name; password empty), if sent.

    A key may instead come in the body (``writeKey``); the collector then checks it and
    answers 401 when neither is present or the key is unknown or revoked. (Served by
    :class:`opsloop.collect.asgi.TrackingFastPath` in a running app; these routes are
    its documented, route-table twin.)
    """
    try:
        return basic_user(request.headers.get("authorization"))
    except MalformedAuthError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=exc.message) from exc


require_write_key.required_permission = "collect:write-key"  # type: ignore[attr-defined]
WriteKey = Annotated[str | None, Depends(require_write_key)]


def _collector(request: Request) -> Collector:
    collector: Collector = request.app.state.collector
    return collector


def _error(exc: OpsloopError) -> JSONResponse:
    status_code, body, headers = error_body(exc)
    return JSONResponse(status_code=status_code, content=body, headers=headers or None)


async def _read_body(request: Request, cap: int) -> bytes:
    """The body, refusing (400) once it passes ``cap`` bytes, without buffering more."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > cap:
        raise BadEventError("too_large", f"request exceeds {cap} bytes", where="body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BadEventError("too_large", f"request exceeds {cap} bytes", where="body")
        chunks.append(chunk)
    return b"".join(chunks)


async def _ingest(kind: str, request: Request, key: str | None) -> JSONResponse:
    collector = _collector(request)
    received = datetime.now(UTC)
    try:
        try:
            raw = await _read_body(request, collector.limits.max_request_bytes + 1024)
        except BadEventError as exc:
            collector.stats.reject(exc.reason)
            raise
        items = collector.prepare_segment(
            kind,
            raw,
            content_encoding=request.headers.get("content-encoding"),
            write_key=key,
            received_at=received,
        )
        await collector.store(items)
    except OpsloopError as exc:  # BadEventError (400), UnauthorizedError (401)
        return _error(exc)
    except LogError as exc:
        return JSONResponse(
            status_code=503, content={"success": False, "detail": f"not stored: {exc}"}
        )
    return JSONResponse({"success": True})


def _segment_route(kind: str) -> Any:
    async def route(request: Request, key: WriteKey) -> JSONResponse:
        return await _ingest(kind, request, key)

    route.__name__ = f"segment_{kind}"
    route.__doc__ = f"Segment HTTP Tracking API ``{kind}`` call (200 = stored durably)."
    return route


for _kind in SEGMENT_CALLS:
    router.add_api_route(
        f"/v1/{_kind}",
        _segment_route(_kind),
        methods=["POST"],
        summary=f"Segment {_kind}",
        response_model=None,
    )


async def sensors_ingest(
    request: Request, project: str = "default", _key: WriteKey = None
) -> JSONResponse:
    """Sensors Analytics SDK endpoint (``server_url = http://host/sa?project=NAME``)."""
    collector = _collector(request)
    received = datetime.now(UTC)
    try:
        raw = b""
        if request.method == "POST":
            try:
                raw = await _read_body(request, 2 * collector.limits.max_request_bytes)
            except BadEventError as exc:
                collector.stats.reject(exc.reason)
                raise
        form = sensors_form(request.method, raw, dict(request.query_params))
        items = collector.prepare_sensors(project, form, received_at=received)
        await collector.store(items)
    except OpsloopError as exc:
        return _error(exc)
    except LogError as exc:
        return JSONResponse(
            status_code=503, content={"success": False, "detail": f"not stored: {exc}"}
        )
    return JSONResponse({"success": True})


# -- admin (staff) ---------------------------------------------------------------------------


# One handler, two methods (SDKs POST; a GET beacon puts ``data`` in the query), each
# with its own OpenAPI operation id.
for _method in ("GET", "POST"):
    router.add_api_route(
        "/sa",
        sensors_ingest,
        methods=[_method],
        operation_id=f"sensors_ingest_{_method.lower()}",
        summary=f"Sensors Analytics SDK ({_method})",
        response_model=None,
    )


class SourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: str = "segment"


class SourcePublic(BaseModel):
    source_id: str
    name: str
    kind: str
    key_hint: str
    created_at: datetime | None
    revoked_at: datetime | None
    write_key: str | None = None


def _public(info: sources.SourceInfo, key: str | None = None) -> SourcePublic:
    return SourcePublic(
        source_id=info.source_id,
        name=info.name,
        kind=info.kind,
        key_hint=info.key_hint,
        created_at=info.created_at,
        revoked_at=info.revoked_at,
        write_key=key,
    )


@admin_router.get("/sources", dependencies=[require("collect:read")])
def list_sources(store: StoreDep) -> list[SourcePublic]:
    """Registered sources (keys are never shown again after creation)."""
    return [_public(s) for s in sources.list_sources(store)]


@admin_router.post("/sources", status_code=201, dependencies=[require("collect:admin")])
def create_source(body: SourceCreate, store: StoreDep) -> SourcePublic:
    """Create a source; the response carries its write key, once."""
    info, key = sources.create_source(store, name=body.name, kind=body.kind)
    return _public(info, key)


@admin_router.post("/sources/{name}/revoke", dependencies=[require("collect:admin")])
def revoke_source(name: str, store: StoreDep, request: Request) -> SourcePublic:
    """Revoke a source's key; calls with it get 401 from now on."""
    info = sources.revoke_source(store, name=name)
    _collector(request).resolver.clear()
    return _public(info)


@admin_router.get("/stats", dependencies=[require("collect:read")])
def stats(request: Request) -> dict[str, Any]:
    """Accepted / duplicate / rejected (by reason) counts, log end and flusher state."""
    collector = _collector(request)
    flusher: Flusher = request.app.state.collect_flusher
    log = collector.log
    return {
        **collector.stats.as_dict(),
        "log_end_offset": log.end_offset,
        "log_fsyncs": log.batches,
        "warehouse_offset": log.committed("warehouse"),
        "warehouse_inserted": flusher.inserted,
        "warehouse_last_flush": flusher.last_flush,
        "consent_applied": collector.consent.applied,
    }


# -- privacy: consent and erasure ------------------------------------------------------------

Privacy = Annotated[Principal, require("collect:privacy")]
CUSTOMER_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$"


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(pattern=CUSTOMER_ID, description="the tracked user id")
    tracking: bool


class ConsentOut(BaseModel):
    customer_id: str
    tracking: bool
    changed: bool


@admin_router.post("/consent")
def set_consent(
    body: ConsentIn, principal: Privacy, store: StoreDep, request: Request
) -> ConsentOut:
    """Record a customer's tracking consent; withdrawn → further events dropped or
    anonymised (``OPSLOOP_COLLECT_CONSENT_MODE``). Audited."""
    require_bank_wide(principal, what="tracking consent")
    change = consent.ConsentChange(body.customer_id, body.tracking, "api")
    changed = consent.set_consent(store, change, actor=principal, ip=client_ip(request))
    _collector(request).consent.reload()
    return ConsentOut(customer_id=body.customer_id, tracking=body.tracking, changed=changed)


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(pattern=CUSTOMER_ID, description="the tracked user id")
    mode: Literal["delete", "anonymise"] | None = None


class ErasureOut(BaseModel):
    customer_id: str
    mode: str
    events: int
    identity_links: int
    stream_records: int = Field(description="raw event stream records erased")


@admin_router.post("/erasure")
def erasure(
    body: ErasureIn,
    principal: Privacy,
    store: StoreDep,
    warehouse: WarehouseDep,
    request: Request,
) -> ErasureOut:
    """Right to erasure: the customer's events and identity links are removed (or
    anonymised) and further events blocked. Audited."""
    require_bank_wide(principal, what="erasure")
    collector = _collector(request)
    result = consent.erase(
        store,
        warehouse,
        body.customer_id,
        actor=principal,
        mode=body.mode,
        ip=client_ip(request),
        stream=collector.log,
    )
    collector.consent.reload()
    return ErasureOut(
        customer_id=result.user_id,
        mode=result.mode,
        events=result.events,
        identity_links=result.identity_links,
        stream_records=result.stream_records,
    )
