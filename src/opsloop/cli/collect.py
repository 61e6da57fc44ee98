"""``opsloop source …``: create, list and revoke event sources (write keys).

Works on the operational store directly (it is transactional and shared with a running
server); a revocation reaches a running server within its key cache's TTL (2 s).
"""

from __future__ import annotations

from typing import Annotated

import pyarrow as pa
import typer

from opsloop.cli.output import Format, console, print_arrow
from opsloop.collect import sources
from opsloop.settings import get_settings
from opsloop.store import Store

app = typer.Typer(help="Event sources and their write keys (埋点数据源).", no_args_is_help=True)


def _store() -> Store:
    settings = get_settings()
    settings.ensure_home()
    return Store.open(settings.database_url)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="source name, e.g. ios-app")],
    kind: Annotated[str, typer.Option(help="segment | sensors")] = "segment",
) -> None:
    """Create a source and print its write key (shown this once only)."""
    store = _store()
    try:
        info, key = sources.create_source(store, name=name, kind=kind)
    finally:
        store.close()
    console.print(f"source {info.name} ({info.source_id}, {info.kind}) created; write key:")
    typer.echo(key)


@app.command("list")
def list_(
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table | csv | json")] = (
        Format.table
    ),
) -> None:
    """List sources (keys are never shown again, only their first characters)."""
    store = _store()
    try:
        rows = sources.list_sources(store)
    finally:
        store.close()
    table = pa.table(
        {
            "name": [r.name for r in rows],
            "source_id": [r.source_id for r in rows],
            "kind": [r.kind for r in rows],
            "key_hint": [r.key_hint for r in rows],
            "created_at": [str(r.created_at) for r in rows],
            "revoked_at": [str(r.revoked_at) if r.revoked_at else None for r in rows],
        }
    )
    print_arrow(table, fmt)


@app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="source name or id")]) -> None:
    """Revoke a source: calls with its key get 401 from now on."""
    store = _store()
    try:
        info = sources.revoke_source(store, name=name)
    finally:
        store.close()
    console.print(f"source {info.name} revoked at {info.revoked_at}")
