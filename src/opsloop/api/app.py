"""The FastAPI application: wiring only — routers call the centers' services."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from opsloop import __version__
from opsloop.api.routers import health, warehouse
from opsloop.errors import OpsloopError
from opsloop.logging import get_logger
from opsloop.settings import Settings, get_settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

log = get_logger("opsloop.api")


def create_app(
    settings: Settings | None = None,
    *,
    local_token: str | None = None,
    on_ready: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the app; stores are opened at startup and closed at shutdown.

    ``on_ready``/``on_stop`` run once the stores are open / before they close (the CLI
    uses them to publish and withdraw ``server.json``, even on SIGTERM).
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.ensure_home()
        app.state.store = Store.open(settings.database_url)
        app.state.warehouse = Warehouse.open(settings.warehouse)
        log.info("started", home=str(settings.home), warehouse=settings.warehouse)
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
    app.state.local_token = local_token or secrets.token_urlsafe(32)

    @app.exception_handler(OpsloopError)
    async def _opsloop_error(_request: Request, exc: OpsloopError) -> JSONResponse:
        body = {"detail": exc.message, "where": exc.where, "error": type(exc).__name__}
        return JSONResponse(status_code=exc.status_code, content=body)

    app.include_router(health.router, prefix="/api/v1")
    app.include_router(warehouse.router, prefix="/api/v1")
    return app
