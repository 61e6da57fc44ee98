"""Serve the web console (运营工作台): the built single-page app at ``/``.

A pure-ASGI layer rather than routes: the console's files are public (they hold no data;
every figure comes from the guarded API), and keeping them out of the route table keeps
the route-protection test and the OpenAPI schema about the API alone.

- ``GET /assets/<hashed name>``: the file, cached for a year (the name changes with it).
- any other ``GET``/``HEAD`` outside the API prefixes: the file if it exists, else
  ``index.html`` (the SPA's own router draws the page), never cached.
- the API, tracking and link prefixes (``/api``, ``/v1``, ``/sa``, ``/r/``, ``/docs``, …)
  always go to the app, so the console cannot shadow them.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

DIST = Path(__file__).parent / "console_dist"
RESERVED = ("/api", "/v1", "/sa", "/r/", "/docs", "/redoc", "/openapi.json", "/metrics")
IMMUTABLE = b"public, max-age=31536000, immutable"
NO_CACHE = b"no-cache"


def is_console_path(path: str) -> bool:
    """Whether a GET for ``path`` is the console's (not the API's or a collector's)."""
    return not any(path == p.rstrip("/") or path.startswith(p) for p in RESERVED)


def resolve(dist: Path, path: str) -> tuple[Path, bool] | None:
    """The file to send for ``path`` and whether it may be cached forever.

    Paths that climb out of ``dist`` fall back to ``index.html`` like any unknown page.
    """
    index = dist / "index.html"
    if not index.is_file():
        return None
    rel = path.lstrip("/")
    if rel:
        candidate = (dist / rel).resolve()
        if candidate.is_file() and candidate.is_relative_to(dist.resolve()):
            return candidate, rel.startswith("assets/")
    return index, False


class ConsoleMiddleware:
    """Answer console GETs from ``dist``; pass everything else to the app."""

    def __init__(self, app: ASGIApp, *, dist: Path = DIST) -> None:
        self.app, self.dist = app, dist

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or not is_console_path(path)
        ):
            await self.app(scope, receive, send)
            return
        found = resolve(self.dist, path)
        if found is None:  # no build: the API still works, / is simply not found
            await self.app(scope, receive, send)
            return
        file, immutable = found
        body = file.read_bytes()
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        headers = [
            (b"content-type", ctype.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", IMMUTABLE if immutable else NO_CACHE),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )
