"""The FastAPI application: wiring only — routers call the centers' services."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from opsloop import __version__
from opsloop.access.config import AccessSettings
from opsloop.access.ratelimit import make_rate_limiter
from opsloop.access.redact import install_log_redaction
from opsloop.activity.asgi import ParticipateFastPath
from opsloop.api.console import ConsoleMiddleware
from opsloop.api.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from opsloop.api.routers import (
    activity,
    audit,
    auth,
    collect,
    console_data,
    customers,
    dashboard,
    health,
    monitor,
    ops,
    reach,
    roles,
    segments,
    strategy,
    tags,
    tokens,
    users,
    warehouse,
)
from opsloop.collect.asgi import TrackingFastPath
from opsloop.errors import OpsloopError
from opsloop.logging import get_logger
from opsloop.reach.asgi import SlotFastPath
from opsloop.runtime.heap import calm_gc, shorten_gil_switch
from opsloop.runtime.metrics import MetricsMiddleware
from opsloop.runtime.profile import check_profile, migrates_on_open
from opsloop.settings import Settings, get_settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

log = get_logger("opsloop.api")


def create_app(
    settings: Settings | None = None,
    *,
    access: AccessSettings | None = None,
    local_token: str | None = None,
    on_ready: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the app; stores are opened at startup and closed at shutdown.

    ``on_ready``/``on_stop`` run once the stores are open / before they close (the CLI
    uses them to publish and withdraw ``server.json``, even on SIGTERM).
    """
    settings = settings or get_settings()
    access = access or AccessSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_home()
        install_log_redaction()
        check_profile(settings)  # production refuses SQLite, DuckDB files, no Redis
        app.state.store = Store.open(settings.database_url, migrate=migrates_on_open(settings))
        app.state.warehouse = Warehouse.open(settings.warehouse)
        log.info("started", home=str(settings.home), warehouse=settings.warehouse)
        calm_gc()  # full GC passes over the start-up heap stalled every request in flight
        shorten_gil_switch()  # background threads held the GIL up to 5 ms per hand-back
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            if on_stop is not None:
                on_stop()
            app.state.warehouse.close()
            app.state.store.close()
            log.info("stopped")

    app = FastAPI(
        title="opsloop",
        version=__version__,
        description="Closed-loop customer operations platform for retail banks (数智化运营平台)",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.access = access
    app.state.local_token = local_token or secrets.token_urlsafe(32)
    app.state.rate_limiter = make_rate_limiter(
        settings.redis_url, per_minute=access.rate_per_minute, burst=access.rate_burst
    )
    app.add_middleware(ConsoleMiddleware)  # innermost: console files get security headers
    app.add_middleware(BodyLimitMiddleware, max_bytes=access.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost: tracking calls (/v1/*, /sa) skip routing and middleware (collect/asgi.py).
    app.add_middleware(TrackingFastPath, max_body_bytes=access.max_body_bytes)
    # Slot decisions (GET /api/v1/slots/{slot}) too: the app asks on every page load.
    app.add_middleware(SlotFastPath)
    # Coupon grabs (POST /api/v1/activities/{id}/participate) too (activity/asgi.py).
    app.add_middleware(ParticipateFastPath, max_body_bytes=access.max_body_bytes)
    app.add_middleware(MetricsMiddleware)

    @app.exception_handler(OpsloopError)
    async def _opsloop_error(_request: Request, exc: OpsloopError) -> JSONResponse:
        body = {"detail": exc.message, "where": exc.where, "error": type(exc).__name__}
        return JSONResponse(status_code=exc.status_code, content=body)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the submitted values back (they may be passwords or PII).
        errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    for router in (
        health,
        auth,
        users,
        roles,
        tokens,
        audit,
        customers,
        dashboard,
        segments,
        tags,
        warehouse,
        monitor,
        activity,
        strategy,
        reach,
        console_data,
    ):
        app.include_router(router.router, prefix="/api/v1")
    # Tracking SDKs call the server root (/v1/track, /v1/batch, /sa) with write keys.
    app.include_router(ops.router)  # /api/v1/ready and /metrics (Prometheus' usual path)
    app.include_router(collect.router)
    app.include_router(reach.links_router)  # short links /r/{token} sit at the root
    app.include_router(collect.admin_router, prefix="/api/v1")
    return app
