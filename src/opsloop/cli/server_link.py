"""Find a running ``opsloop serve`` and call it, so CLI reads work while it holds DuckDB.

DuckDB lets one process open a database file for writing, and then no other process
may open it at all. The server therefore writes ``HOME/server.json`` (mode 0600: the
URL and a per-start local operator token); the CLI reads it and goes through the
server's API. Without a running server the CLI opens the warehouse itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from opsloop.errors import OpsloopError


@dataclass(frozen=True)
class ServerLink:
    url: str
    token: str
    pid: int

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._handle(
            httpx.post(self.url + path, json=body, headers=self._auth(), timeout=600)
        )

    def get(self, path: str) -> Any:
        return self._handle(httpx.get(self.url + path, headers=self._auth(), timeout=600))

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @staticmethod
    def _handle(resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            try:
                body = resp.json()
                raise OpsloopError(str(body.get("detail")), where=body.get("where"))
            except ValueError:
                raise OpsloopError(f"server answered {resp.status_code}: {resp.text}") from None
        return resp.json()


def write_server_file(path: Path, *, url: str, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps({"url": url, "token": token, "pid": os.getpid()}))
    tmp.replace(path)


def find_server(path: Path) -> ServerLink | None:
    """The running server described by ``path``, or None if there is none (or it died)."""
    try:
        info = orjson.loads(path.read_bytes())
        link = ServerLink(url=str(info["url"]), token=str(info["token"]), pid=int(info["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(link.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    try:
        ok = httpx.get(link.url + "/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        ok = False
    return link if ok else None
