"""``opsloop source …`` (event sources, write keys) and ``opsloop collect …`` (consent,
erasure).

Works on the operational store directly (it is transactional and shared with a running
server); a revocation reaches a running server within its key cache's TTL (2 s).
"""

from __future__ import annotations

from typing import Annotated

import orjson
import pyarrow as pa
import typer

from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.cli.output import Format, console, print_arrow
from opsloop.cli.server_link import find_server
from opsloop.collect import consent, sources
from opsloop.collect.log import LogLockedError
from opsloop.collect.stream import open_stream
from opsloop.errors import OpsloopError
from opsloop.settings import get_settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

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


privacy_app = typer.Typer(
    help="Collected data: tracking consent and the right to erasure.", no_args_is_help=True
)


def _privacy(path: str, body: dict[str, object]) -> dict[str, object]:
    """Through a running server (it holds the warehouse), else directly, as the local
    operator; either way audited."""
    settings = get_settings()
    settings.ensure_home()
    link = find_server(settings.server_file)
    if link is not None:
        out: dict[str, object] = link.post(f"/api/v1/collect/{path}", body)
        return out
    store = Store.open(settings.database_url)
    try:
        user = str(body["customer_id"])
        if path == "consent":
            change = consent.ConsentChange(user, bool(body["tracking"]), "cli")
            changed = consent.set_consent(store, change, actor=LOCAL_OPERATOR)
            return {"customer_id": user, "tracking": body["tracking"], "changed": changed}
        try:  # the raw event stream too (without a server, nobody else writes the log)
            stream = open_stream(settings.home, settings.redis_url)
        except LogLockedError as exc:
            raise OpsloopError(
                f"{exc}; erase through the running server (it writes the log)",
                where="OPSLOOP_HOME",
            ) from None
        wh = Warehouse.open(settings.warehouse)
        try:
            mode = body.get("mode")
            r = consent.erase(
                store,
                wh,
                user,
                actor=LOCAL_OPERATOR,
                mode=str(mode) if mode else None,
                stream=stream,
            )
        finally:
            wh.close()
            stream.close()
        return {
            "customer_id": r.user_id,
            "mode": r.mode,
            "events": r.events,
            "identity_links": r.identity_links,
            "stream_records": r.stream_records,
        }
    finally:
        store.close()


@privacy_app.command("erase")
def erase(
    customer_id: Annotated[str, typer.Argument(help="the tracked user (customer) id")],
    mode: Annotated[
        str | None, typer.Option(help="delete | anonymise (default: OPSLOOP_COLLECT_ERASURE_MODE)")
    ] = None,
) -> None:
    """Erase a customer's collected events and identity links; block further events."""
    if mode not in (None, "delete", "anonymise"):
        raise typer.BadParameter("mode must be delete or anonymise", param_hint="--mode")
    body: dict[str, object] = {"customer_id": customer_id}
    if mode:
        body["mode"] = mode
    typer.echo(orjson.dumps(_privacy("erasure", body)).decode())


@privacy_app.command("consent")
def consent_(
    customer_id: Annotated[str, typer.Argument(help="the tracked user (customer) id")],
    withdraw: Annotated[
        bool, typer.Option("--withdraw/--grant", help="withdraw (default) or grant again")
    ] = True,
) -> None:
    """Record a customer's tracking consent."""
    body = {"customer_id": customer_id, "tracking": not withdraw}
    typer.echo(orjson.dumps(_privacy("consent", body)).decode())
