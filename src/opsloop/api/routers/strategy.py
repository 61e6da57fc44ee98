"""Strategy center (策略中心): journeys — validate, save, approve, launch, run, measure.

With ``OPSLOOP_JOURNEY_RUNNER=1`` the server also runs the journey runner (stream
consumer and timer clock, :mod:`opsloop.strategy.runner`) on its own event log: the
embedded log has one process, so this is how journeys react in real time without Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, FastAPI, File, Path, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from opsloop.access import audit
from opsloop.access.principal import LOCAL_OPERATOR, Principal
from opsloop.access.uploads import check_upload
from opsloop.api.deps import ClientIp, SettingsDep, StoreDep, WarehouseDep, require
from opsloop.errors import InvalidInputError
from opsloop.strategy import catalog, fileentry, service
from opsloop.strategy.journey import validate_journey

RUNNER_ENV = "OPSLOOP_JOURNEY_RUNNER"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the in-server journey runner once the collector's log is open (opt-in)."""
    from opsloop.strategy.runner import JourneyRunner

    runner: JourneyRunner | None = None
    task: asyncio.Task[None] | None = None

    async def start() -> None:
        nonlocal runner
        while getattr(app.state, "collector", None) is None:  # opened by a later lifespan
            await asyncio.sleep(0.05)
        settings = app.state.settings
        runner = JourneyRunner(
            store=app.state.store,
            wh=app.state.warehouse,
            stream=app.state.collector.log,
            principal=LOCAL_OPERATOR,
            home=settings.home,
            redis_url=settings.redis_url,
        )
        await asyncio.to_thread(runner.start)
        app.state.journey_runner = runner

    if os.environ.get(RUNNER_ENV) == "1":
        task = asyncio.create_task(start())
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
        if runner is not None:
            await asyncio.to_thread(runner.stop)


router = APIRouter(tags=["strategy"], lifespan=lifespan)
Maker = Annotated[Principal, require("journey:submit")]
Checker = Annotated[Principal, require("journey:approve")]
Reader = Annotated[Principal, require("analysis:read")]
JourneyId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]


class JourneyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    journey: dict[str, Any] = Field(description="a journey document (see docs/strategy.md)")


class DryRunBody(JourneyBody):
    customer_ids: list[int] | None = Field(default=None, max_length=100_000)


class EnterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: list[int] = Field(min_length=1, max_length=100_000)
    entry_key: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    entry_node: str | None = Field(default=None, max_length=64)


class EventBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(ge=0, le=2**62)
    event: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_.:$-]*$")
    properties: dict[str, bool | int | str] = Field(default_factory=dict, max_length=100)
    message_id: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.:-]+$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _hosts(request: Request) -> dict[str, tuple[str, ...]] | None:
    """Reach's webhook allow-lists (HOME/reach.json), which webhook nodes must respect."""
    config = getattr(request.app.state, "reach_config", None)
    return None if config is None else config.webhook_hosts()  # type: ignore[no-any-return]


@router.post("/journeys/validate")
def validate(body: JourneyBody, request: Request, principal: Maker) -> dict[str, Any]:
    """Check a journey document; 400 names the first problem's JSON path."""
    defn = validate_journey(body.journey, webhook_hosts=_hosts(request))
    return {"valid": True, "id": defn.id, "nodes": len(defn.nodes), "edges": len(defn.edges)}


@router.post("/journeys")
def save(body: JourneyBody, request: Request, store: StoreDep, principal: Maker) -> dict[str, Any]:
    """Create a journey, edit its draft, or start a new version of a launched one."""
    with store.session() as s:
        info = service.save_journey(
            session=s, principal=principal, doc=body.journey, webhook_hosts=_hosts(request)
        )
    return dataclasses.asdict(info)


@router.get("/journeys")
def list_journeys(
    store: StoreDep,
    principal: Reader,
    status: catalog.Status | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    """Journeys (newest first): latest version, its status, owner, last change; a page.

    Readers of journey statistics may list them: an approver (checker) has to find what
    waits for approval, and a journey document holds no customer data.
    """
    with store.session() as s:
        page = catalog.list_journeys(session=s, status=status, limit=limit, offset=offset)
    return {"total": page.total, "limit": limit, "offset": offset} | {
        "items": [dataclasses.asdict(i) for i in page.items]
    }


@router.get("/journeys/{journey_id}/versions")
def versions(journey_id: JourneyId, store: StoreDep, principal: Reader) -> list[dict[str, Any]]:
    """Every version of the journey (newest first) with its status and maker-checker trail."""
    with store.session() as s:
        rows = catalog.list_versions(session=s, journey_id=journey_id)
    return [dataclasses.asdict(v) for v in rows]


@router.get("/journeys/{journey_id}")
def get(
    journey_id: JourneyId,
    store: StoreDep,
    principal: Reader,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> dict[str, Any]:
    """A version of a journey (the latest by default) and its state — the checker reads
    what they approve, so reading needs only ``analysis:read``, like the statistics."""
    with store.session() as s:
        info = service.get_journey(session=s, journey_id=journey_id, version=version)
        return dataclasses.asdict(info)


def _move(store: Any, principal: Principal, journey_id: str, action: str) -> dict[str, Any]:
    with store.session() as s:
        info = service.transition(
            session=s, principal=principal, journey_id=journey_id, action=action
        )
    return dataclasses.asdict(info)


@router.post("/journeys/{journey_id}/submit")
def submit(journey_id: JourneyId, store: StoreDep, principal: Maker) -> dict[str, Any]:
    """Submit the draft for approval."""
    return _move(store, principal, journey_id, "submit")


@router.post("/journeys/{journey_id}/approve")
def approve(journey_id: JourneyId, store: StoreDep, principal: Checker) -> dict[str, Any]:
    """Approve a submitted version (a different user from its author and submitter)."""
    return _move(store, principal, journey_id, "approve")


@router.post("/journeys/{journey_id}/reject")
def reject(journey_id: JourneyId, store: StoreDep, principal: Checker) -> dict[str, Any]:
    """Send a submitted version back to draft."""
    return _move(store, principal, journey_id, "reject")


@router.post("/journeys/{journey_id}/pause")
def pause(journey_id: JourneyId, store: StoreDep, principal: Maker) -> dict[str, Any]:
    """Pause the running version (timers wait; nobody new enters)."""
    return _move(store, principal, journey_id, "pause")


@router.post("/journeys/{journey_id}/finish")
def finish(journey_id: JourneyId, store: StoreDep, principal: Maker) -> dict[str, Any]:
    """End the journey."""
    return _move(store, principal, journey_id, "finish")


@router.post("/journeys/{journey_id}/launch")
def launch(
    journey_id: JourneyId,
    store: StoreDep,
    wh: WarehouseDep,
    settings: SettingsDep,
    principal: Maker,
) -> dict[str, Any]:
    """Start the approved version; a one-off segment entry enters its audience (in scope)."""
    info, result = service.launch(
        store=store,
        wh=wh,
        principal=principal,
        journey_id=journey_id,
        now=_now(),
        policy=service.load_policy(settings.home),
        redis_url=settings.redis_url,
    )
    return {
        "journey": dataclasses.asdict(info),
        "entry": dataclasses.asdict(result) if result else None,
    }


@router.post("/journeys/{journey_id}/enter")
def enter(
    journey_id: JourneyId,
    body: EnterBody,
    store: StoreDep,
    wh: WarehouseDep,
    settings: SettingsDep,
    principal: Maker,
    ip: ClientIp,
) -> dict[str, Any]:
    """The API trigger: enter these customers (those in the caller's scope) now; audited."""
    with store.session() as s:
        defn = service.running_definition(session=s, journey_id=journey_id)
    result = service.run_entry(
        store=store,
        wh=wh,
        principal=principal,
        defn=defn,
        now=_now(),
        entry_key=body.entry_key,
        policy=service.load_policy(settings.home),
        ids=np.array(body.customer_ids, dtype=np.int64),
        entry_node=body.entry_node,
        ports=service.live_ports(settings.redis_url),
    )
    with store.session() as s:
        audit.record(
            s,
            actor=principal,
            action="journey.enter",
            target_type="journey",
            target_id=f"{journey_id}@v{defn.version}",
            ip=ip,
            after={
                "entry_key": body.entry_key,
                "requested": len(body.customer_ids),
                "in_scope": result.candidates,
                "entered": result.entered,
                "control": result.control,
                "skipped_reentry": result.skipped_reentry,
            },
        )
    return dataclasses.asdict(result)


@router.post("/journeys/{journey_id}/upload")
async def upload(
    journey_id: JourneyId,
    file: Annotated[UploadFile, File(description="CSV with a header, or one id per line")],
    store: StoreDep,
    wh: WarehouseDep,
    settings: SettingsDep,
    principal: Maker,
    ip: ClientIp,
    node: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")] = None,
) -> dict[str, Any]:
    """The file entry: every id in the file enters the running journey at its ``file_entry``
    node, or — a bad line, or an id not in the caller's scope — nobody does."""
    data = await file.read(fileentry.MAX_FILE_BYTES + 1)
    check_upload(
        filename=file.filename or "",
        content_type=file.content_type or "",
        size=len(data),
        head=data[:16],
        max_bytes=fileentry.MAX_FILE_BYTES,
    )
    if not (file.filename or "").lower().endswith(".csv"):
        raise InvalidInputError("upload a .csv of customer ids", where="filename")

    def run() -> fileentry.UploadResult:
        with store.session() as s:
            defn = service.running_definition(session=s, journey_id=journey_id)
        return fileentry.upload(
            store=store,
            wh=wh,
            principal=principal,
            defn=defn,
            node_id=node,
            data=data,
            filename=file.filename or "",
            now=_now(),
            policy=service.load_policy(settings.home),
            ports=service.live_ports(settings.redis_url),
            ip=ip,
        )

    return dataclasses.asdict(await asyncio.to_thread(run))


@router.post("/journeys/{journey_id}/tick")
def run_timers(
    journey_id: JourneyId,
    store: StoreDep,
    wh: WarehouseDep,
    settings: SettingsDep,
    principal: Maker,
) -> dict[str, Any]:
    """Resume every customer whose wait is due (and check event waits)."""
    return service.tick_journey(
        store=store,
        wh=wh,
        principal=principal,
        journey_id=journey_id,
        now=_now(),
        policy=service.load_policy(settings.home),
        redis_url=settings.redis_url,
    )


@router.get("/journeys/{journey_id}/stats")
def stats(journey_id: JourneyId, store: StoreDep, principal: Reader) -> dict[str, Any]:
    """Per version and node: entered, branches, sent, suppressed by reason, waiting; arms."""
    with store.session() as s:
        service.get_journey(session=s, journey_id=journey_id)
        return service.journey_stats(session=s, journey_id=journey_id)


@router.post("/journeys/dry-run")
def dry_run(
    body: DryRunBody,
    store: StoreDep,
    wh: WarehouseDep,
    settings: SettingsDep,
    principal: Maker,
) -> dict[str, Any]:
    """Forecast today's run: entered, per node, suppressed, cost — nothing sent or stored."""
    ids = None if body.customer_ids is None else np.array(body.customer_ids, dtype=np.int64)
    forecast = service.dry_run(
        store=store,
        wh=wh,
        principal=principal,
        doc=body.journey,
        now=_now(),
        policy=service.load_policy(settings.home),
        ids=ids,
    )
    return dataclasses.asdict(forecast)


@router.post("/journeys/events")
def on_event(
    body: EventBody,
    store: StoreDep,
    wh: WarehouseDep,
    settings: SettingsDep,
    principal: Maker,
) -> dict[str, Any]:
    """Real time: one customer's event enters event-triggered journeys and resumes waits."""
    return service.on_event(
        store=store,
        wh=wh,
        principal=principal,
        customer_id=body.customer_id,
        event=body.event,
        properties=body.properties,
        message_id=body.message_id,
        at=_now(),
        policy=service.load_policy(settings.home),
        redis_url=settings.redis_url,
    )
