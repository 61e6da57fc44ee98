"""Operations endpoints for the bank's IT: readiness (public) and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from opsloop.api.deps import Principal, require
from opsloop.runtime.metrics import CONTENT_TYPE_LATEST, render
from opsloop.runtime.readiness import check_dependencies

router = APIRouter(tags=["operations"])


class CheckOut(BaseModel):
    name: str
    ok: bool
    ms: float
    detail: str


class Readiness(BaseModel):
    ready: bool
    profile: str
    checks: list[CheckOut]


@router.get("/api/v1/ready", responses={503: {"model": Readiness}})
async def ready(request: Request, response: Response) -> Readiness:
    """200 when every dependency answers (store migrated, warehouse, Redis), else 503."""
    state = request.app.state
    checks = await run_in_threadpool(
        check_dependencies, state.settings, state.store, state.warehouse
    )
    ok = all(c.ok for c in checks)
    if not ok:
        response.status_code = 503
    return Readiness(
        ready=ok,
        profile=state.settings.profile,
        checks=[CheckOut(name=c.name, ok=c.ok, ms=c.ms, detail=c.detail) for c in checks],
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(
    request: Request,
    _: Annotated[Principal, require("system:metrics")],
) -> Response:
    """Prometheus exposition: request latencies, ingest, queue depths, sends, suppressions."""
    body = await run_in_threadpool(render, request.app.state.store)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
