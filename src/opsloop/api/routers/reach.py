"""Reach routes: templates, inbox, call lists/RM tasks, slots, contacts, receipts, links.

Two routes take no staff credentials, by necessity (both in ``PUBLIC_ROUTES``):
``GET /r/{token}`` is followed by customers from a message (the token, 128 random
bits, is the credential), and ``POST /api/v1/reach/receipts/{channel}`` is called by
gateways, which sign the body with the channel's HMAC secret (checked here).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from opsloop.access.clock import utcnow
from opsloop.access.crypto import PiiCipher
from opsloop.access.principal import Principal
from opsloop.api.deps import ClientIp, StoreDep, WarehouseDep, get_warehouse, require
from opsloop.reach import outbox, overview, service, signing, templates
from opsloop.reach.config import ReachConfig, WebhookConfig
from opsloop.reach.service import Receipt, SlotContentIn
from opsloop.reach.slots import Refresher, SlotIndex
from opsloop.reach.templates import TemplateDef


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The slot index (refreshed in the background) and the channel config (secrets)."""
    index = SlotIndex(app.state.store)
    index.refresh()
    refresher = Refresher(index)
    path = app.state.settings.home / "reach.json"
    app.state.reach_slots = index
    app.state.reach_config = ReachConfig.load(path) if path.exists() else None
    try:
        yield
    finally:
        refresher.stop()


router = APIRouter(tags=["reach"], lifespan=lifespan)
links_router = APIRouter(tags=["reach"])
Manager = Annotated[Principal, require("reach:manage")]
Server = Annotated[Principal, require("reach:serve")]
Tasker = Annotated[Principal, require("reach:task")]
ContactReader = Annotated[Principal, require("contact:read")]
_NAME = r"^[A-Za-z0-9_:.-]+$"
CustomerId = Annotated[int, Path(ge=0, le=2**62)]
Campaign = Annotated[str, Field(min_length=1, max_length=128, pattern=_NAME)]
TemplateId = Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


async def _append_events(request: Request, items: list[tuple[str, bytes]]) -> None:
    collector = getattr(request.app.state, "collector", None)
    if collector is not None and items:
        await collector.store(items)


# -- templates -------------------------------------------------------------------------------


@router.post("/reach/templates", status_code=201)
def save_template(body: TemplateDef, store: StoreDep, principal: Manager) -> dict[str, Any]:
    return service.save_template(store, principal=principal, definition=body, now=utcnow())


@router.get("/reach/templates")
def list_templates(
    store: StoreDep,
    principal: Manager,
    channel: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z]+$")] = None,
) -> list[dict[str, Any]]:
    """The latest version of every template (optionally of one channel), by id."""
    rows = overview.list_templates(store, channel=channel)
    return [dataclasses.asdict(r) for r in rows]


@router.get("/reach/templates/{template_id}")
def get_template(store: StoreDep, principal: Manager, template_id: TemplateId) -> dict[str, Any]:
    """The latest version of one template, to edit (a save makes the next version)."""
    return service.get_template(store, template_id=template_id).model_dump()


class DraftPreview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    definition: TemplateDef
    customer_id: int = Field(ge=0, le=2**62)


@router.post("/reach/templates/preview")
def preview_draft(
    request: Request,
    body: DraftPreview,
    store: StoreDep,
    wh: WarehouseDep,
    principal: Manager,
    ip: ClientIp,
) -> dict[str, Any]:
    """Render an unsaved template for a real customer (the editor's live preview); the
    save-time checks run first, so the preview fails where the save would."""
    templates.validate(body.definition)
    cipher = PiiCipher.from_secret(request.app.state.settings.resolved_secret_key())
    return service.preview(
        store,
        wh,
        principal=principal,
        template_id=body.definition.template_id,
        customer_id=body.customer_id,
        cipher=cipher,
        ip=ip,
        definition=body.definition,
    )


@router.get("/reach/templates/{template_id}/preview")
def preview_template(
    request: Request,
    store: StoreDep,
    wh: WarehouseDep,
    principal: Manager,
    ip: ClientIp,
    template_id: TemplateId,
    customer_id: Annotated[int, Query(ge=0, le=2**62)],
) -> dict[str, Any]:
    cipher = PiiCipher.from_secret(request.app.state.settings.resolved_secret_key())
    return service.preview(
        store,
        wh,
        principal=principal,
        template_id=template_id,
        customer_id=customer_id,
        cipher=cipher,
        ip=ip,
    )


# -- in-app inbox and resource slots (called by the bank's app backend) -----------------------


@router.get("/inbox/{customer_id}")
def get_inbox(
    customer_id: CustomerId,
    store: StoreDep,
    wh: WarehouseDep,
    principal: Server,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    return service.inbox(store, wh, principal=principal, customer_id=customer_id, limit=limit)


@router.post("/inbox/{customer_id}/{message_id}/read", status_code=204)
def read_inbox(
    customer_id: CustomerId,
    message_id: Annotated[int, Path(ge=1, le=2**62)],
    store: StoreDep,
    wh: WarehouseDep,
    principal: Server,
) -> Response:
    service.mark_read(
        store,
        wh,
        principal=principal,
        customer_id=customer_id,
        message_id=message_id,
        now=utcnow(),
    )
    return Response(status_code=204)


@router.get("/slots/{slot}")
async def get_slot(
    request: Request,
    slot: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")],
    customer_id: Annotated[int, Query(ge=0, le=2**62)],
    principal: Server,
) -> dict[str, Any]:
    """The best content now, from memory; non-bank-wide callers are scope-checked.

    A running app answers well-formed calls with a bearer token in
    :class:`opsloop.reach.asgi.SlotFastPath` (same checks, no routing, no dependency
    injection); this route serves the rest (the console's session, 422s) and documents it.
    """
    if not principal.bank_wide:
        wh = get_warehouse(request)
        if not await run_in_threadpool(service.in_scope, wh, principal, [customer_id]):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no customer {customer_id}")
    index: SlotIndex = request.app.state.reach_slots
    return index.answer(slot, customer_id)


@router.post("/reach/slots", status_code=201)
def add_slot(
    request: Request, body: SlotContentIn, store: StoreDep, principal: Manager
) -> dict[str, int]:
    cid = service.add_slot_content(store, principal=principal, body=body, now=utcnow())
    request.app.state.reach_slots.refresh()
    return {"id": cid}


# -- call lists and RM tasks --------------------------------------------------------------------


class TasksIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["call", "rm"]
    campaign: Campaign
    customer_ids: list[Annotated[int, Field(ge=0, le=2**62)]] = Field(
        min_length=1, max_length=100_000
    )
    script: str = Field(default="", max_length=4000)


class OutcomeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["reached", "interested", "declined", "unreachable"]
    note: str | None = Field(default=None, max_length=1000)


@router.post("/reach/tasks", status_code=201)
def queue_tasks(
    body: TasksIn, store: StoreDep, wh: WarehouseDep, principal: Manager
) -> dict[str, int]:
    n = service.enqueue_tasks(
        store,
        wh,
        principal=principal,
        kind=body.kind,
        campaign=body.campaign,
        customer_ids=body.customer_ids,
        script=body.script,
        now=utcnow(),
    )
    return {"queued": n}


@router.get("/reach/tasks")
def list_tasks(
    store: StoreDep,
    principal: Tasker,
    campaign: Annotated[str | None, Query(max_length=128, pattern=_NAME)] = None,
    task_status: Annotated[Literal["open", "done"] | None, Query(alias="status")] = None,
) -> list[dict[str, Any]]:
    return service.list_tasks(store, principal=principal, campaign=campaign, status=task_status)


@router.get("/reach/tasks/export")
def export_tasks(
    store: StoreDep,
    principal: Tasker,
    ip: ClientIp,
    campaign: Annotated[str | None, Query(max_length=128, pattern=_NAME)] = None,
) -> Response:
    rows = service.export_tasks(store, principal=principal, campaign=campaign, ip=ip)
    buf = io.StringIO()
    cols = ["id", "kind", "customer_id", "campaign", "queue", "status", "outcome", "note", "script"]
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_safe(r.get(k)) for k in cols})
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8")


def _csv_safe(value: object) -> object:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@router.post("/reach/tasks/{task_id}/outcome", status_code=204)
def task_outcome(
    task_id: Annotated[int, Path(ge=1, le=2**62)],
    body: OutcomeIn,
    store: StoreDep,
    principal: Tasker,
    ip: ClientIp,
) -> Response:
    service.record_outcome(
        store,
        principal=principal,
        task_id=task_id,
        outcome=body.outcome,
        note=body.note,
        now=utcnow(),
        ip=ip,
    )
    return Response(status_code=204)


# -- contact history and outbox ---------------------------------------------------------------


@router.get("/contacts")
def list_contacts(
    store: StoreDep,
    wh: WarehouseDep,
    principal: ContactReader,
    customer_id: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    campaign: Annotated[str | None, Query(max_length=128, pattern=_NAME)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    return service.contacts(
        store, wh, principal=principal, customer_id=customer_id, campaign=campaign, limit=limit
    )


@router.get("/reach/outbox")
def outbox_stats(store: StoreDep, principal: Manager) -> dict[str, int]:
    return outbox.counts(store)


# -- gateway receipts (HMAC-signed, no staff credentials) ------------------------------------

_RECEIPTS = TypeAdapter(list[Receipt])


@router.post("/reach/receipts/{channel}")
async def receipts(
    request: Request,
    store: StoreDep,
    channel: Annotated[str, Path(max_length=32, pattern=r"^[a-z0-9_-]+$")],
) -> dict[str, int]:
    config: ReachConfig | None = request.app.state.reach_config
    ch = config.channels.get(channel) if config else None
    if not isinstance(ch, WebhookConfig):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no webhook channel {channel!r}")
    body = await request.body()
    why = signing.verify(
        ch.secret.encode(),
        timestamp=request.headers.get(signing.TIMESTAMP),
        signature=request.headers.get(signing.SIGNATURE),
        body=body,
        now=time.time(),
    )
    if why is not None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=why)
    try:
        items = _RECEIPTS.validate_json(body)
    except ValidationError as exc:
        errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail=errors) from exc
    n, events = service.record_receipts(store, channel=channel, receipts=items, now=utcnow())
    await _append_events(request, events)
    return {"recorded": n, "events": len(events)}


# -- short links (followed by customers; the token is the credential) ------------------------


@links_router.get("/r/{token}", response_model=None)
async def follow(
    request: Request,
    store: StoreDep,
    token: Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
) -> RedirectResponse | HTMLResponse:
    url, events = service.follow_link(store, token=token, now=utcnow())
    await _append_events(request, events)
    if url == service.UNSUBSCRIBE:
        return HTMLResponse("<p>您已退订。You have been unsubscribed.</p>")
    return RedirectResponse(url, status_code=302)
