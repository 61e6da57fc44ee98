"""`opsloop journey ...`: check a journey document and forecast its run (nothing sent)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.cli.local import open_local
from opsloop.cli.output import console, print_json
from opsloop.errors import InvalidInputError
from opsloop.settings import get_settings
from opsloop.strategy.journey import JourneyValidationError, validate_journey

app = typer.Typer(help="Journeys (营销旅程): validate, dry-run and run.", no_args_is_help=True)


class OutFormat(StrEnum):
    json = "json"
    table = "table"


FileArg = Annotated[Path, typer.Argument(help="journey document (JSON)", exists=True)]
FormatOpt = Annotated[OutFormat, typer.Option("--format", "-f", help="json | table")]


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON: {exc}", where=str(path)) from None


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise InvalidInputError("no such file", where=str(path))
    return path.read_bytes()


def _webhook_hosts() -> dict[str, tuple[str, ...]] | None:
    """Reach's webhook allow-lists from HOME/reach.json (None when there is none)."""
    from opsloop.reach.config import ReachConfig

    path = get_settings().home / "reach.json"
    return ReachConfig.load(path).webhook_hosts() if path.is_file() else None


@app.command("validate")
def validate_cmd(file: FileArg, fmt: FormatOpt = OutFormat.table) -> None:
    """Check FILE (webhook URLs against HOME/reach.json's allow_hosts when present); print
    every problem with its JSON path (exit 2 when invalid)."""
    try:
        defn = validate_journey(_load(file), webhook_hosts=_webhook_hosts())
    except JourneyValidationError as exc:
        issues = [{"where": i.where, "message": i.message} for i in exc.issues]
        if fmt == OutFormat.json:
            print_json({"valid": False, "issues": issues})
        else:
            for i in issues:
                console.print(f"[red]{i['where']}[/red]: {i['message']}")
        raise typer.Exit(2) from None
    body = {"valid": True, "id": defn.id, "version": defn.version, "nodes": len(defn.nodes)}
    if fmt == OutFormat.json:
        print_json(body)
    else:
        console.print(f"[green]valid[/green]: {defn.id} v{defn.version}, {len(defn.nodes)} nodes")


@app.command("dry-run")
def dry_run_cmd(
    file: FileArg,
    fmt: FormatOpt = OutFormat.table,
    now: Annotated[str | None, typer.Option(help="ISO time to run at (UTC); default: now")] = None,
    entry_file: Annotated[
        Path | None,
        typer.Option(help="ids to enter at the file_entry node (CSV, as `journey upload` reads)"),
    ] = None,
    node: Annotated[str | None, typer.Option(help="the file_entry node (if several)")] = None,
) -> None:
    """Run FILE's first pass on today's data: who enters, reaches each node, is suppressed, cost.

    A journey that enters from a file needs ``--entry-file``: its ids are checked as an
    upload would check them (every one a customer), then enter the forecast."""
    from opsloop.strategy import fileentry, service

    doc = _load(file)
    at = dt.datetime.fromisoformat(now) if now else dt.datetime.now(dt.UTC)
    at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
    settings = get_settings()
    settings.ensure_home()
    with open_local() as (store, wh):
        ids, entry = None, None
        if entry_file is not None:
            entry_node = fileentry.file_node(validate_journey(doc), node)
            cfg = entry_node.config
            got = fileentry.parse(_read(entry_file), id_column=cfg.id_column, max_rows=cfg.max_rows)
            fileentry.outside_scope(wh, LOCAL_OPERATOR, got, at)
            ids, entry = got.ids, entry_node.id
        forecast = service.dry_run(
            store=store,
            wh=wh,
            principal=LOCAL_OPERATOR,
            doc=doc,
            now=at,
            policy=service.load_policy(settings.home),
            ids=ids,
            entry_node=entry,
        )
    if fmt == OutFormat.json:
        print_json(dataclasses.asdict(forecast))
        return
    console.print(
        f"candidates {forecast.candidates:,} · entered {forecast.entered:,} · "
        f"global control {forecast.control:,} · sent {forecast.sent:,} · "
        f"suppressed {forecast.suppressed:,} · cost {forecast.estimated_cost_cents / 100:,.2f}"
    )
    for node, metrics in forecast.nodes.items():
        shown = ", ".join(f"{k}={v:,}" for k, v in metrics.items())
        console.print(f"  {node}: {shown}")


@app.command("upload")
def upload_cmd(
    journey_id: Annotated[str, typer.Argument(help="a running journey")],
    file: Annotated[Path, typer.Argument(help="CSV with a header, or one id per line")],
    node: Annotated[str | None, typer.Option(help="the file_entry node (if several)")] = None,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Enter FILE's customers at the running journey's file_entry node — all, or (a bad
    line, an unknown id) nobody. Uploading the same list again enters nobody twice."""
    from opsloop.strategy import fileentry, service

    data = _read(file)
    settings = get_settings()
    settings.ensure_home()
    with open_local() as (store, wh):
        with store.session() as s:
            defn = service.running_definition(session=s, journey_id=journey_id)
        got = fileentry.upload(
            store=store,
            wh=wh,
            principal=LOCAL_OPERATOR,
            defn=defn,
            node_id=node,
            data=data,
            filename=file.name,
            now=dt.datetime.now(dt.UTC),
            policy=service.load_policy(settings.home),
            ports=service.live_ports(settings.redis_url),
        )
    if fmt == OutFormat.json:
        print_json(dataclasses.asdict(got))
        return
    console.print(
        f"{got.journey_id} v{got.version} / {got.node}: rows {got.rows:,} · "
        f"ids {got.unique_ids:,} · entered {got.entered:,} · global control {got.control:,} · "
        f"skipped (re-entry) {got.skipped_reentry:,}",
        highlight=False,
    )


@app.command("run")
def run_cmd(
    tick_every: Annotated[float, typer.Option(help="seconds between timer sweeps")] = 1.0,
    batch: Annotated[int, typer.Option(help="events per micro-batch, at most")] = 1000,
) -> None:
    """Run journeys: consume the event stream, fire due timers and recurring entries.

    Runs until SIGTERM or Ctrl-C, then finishes the batch in hand. One runner per
    store (a second exits with status 3). Without Redis the event log belongs to one
    process: run journeys inside ``opsloop serve`` (OPSLOOP_JOURNEY_RUNNER=1) then.
    """
    import signal
    import threading

    from opsloop.collect.log import LogLockedError
    from opsloop.collect.stream import open_stream
    from opsloop.store import Store
    from opsloop.strategy.runner import JourneyRunner, RunnerBusyError
    from opsloop.warehouse import Warehouse

    settings = get_settings()
    settings.ensure_home()
    try:
        stream = open_stream(settings.home, settings.redis_url)
    except LogLockedError as exc:
        raise InvalidInputError(
            f"{exc}: the server holds the event log; start it with "
            "OPSLOOP_JOURNEY_RUNNER=1 or use Redis (OPSLOOP_REDIS_URL)",
            where="events",
        ) from None
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    runner = JourneyRunner(
        store=store,
        wh=wh,
        stream=stream,
        principal=LOCAL_OPERATOR,
        home=settings.home,
        redis_url=settings.redis_url,
        tick_every=tick_every,
        batch=batch,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        try:
            runner.start()
        except RunnerBusyError as exc:
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(3) from None
        console.print("journey runner started", highlight=False)
        while not stop.wait(0.5):
            pass
        runner.stop()
        console.print(f"journey runner stopped after {runner.batches} batches", highlight=False)
    finally:
        stream.close()
        wh.close()
        store.engine.dispose()
