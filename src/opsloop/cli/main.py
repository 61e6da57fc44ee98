"""The ``opsloop`` command line: thin commands over the centers' services."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from opsloop import __version__
from opsloop.cli import access as access_cli
from opsloop.cli import activity as activity_cli
from opsloop.cli import analyze as analyze_cli
from opsloop.cli import collect as collect_cli
from opsloop.cli import generate as generate_cli
from opsloop.cli import import_events as import_cli
from opsloop.cli import journey as journey_cli
from opsloop.cli import load as load_cli
from opsloop.cli import model as model_cli
from opsloop.cli import monitor as monitor_cli
from opsloop.cli import reach as reach_cli
from opsloop.cli import segment as segment_cli
from opsloop.cli import tag as tag_cli
from opsloop.cli import worker as worker_cli
from opsloop.cli.output import Format, console, print_arrow
from opsloop.cli.server_link import find_server
from opsloop.errors import OpsloopError
from opsloop.settings import Settings, get_settings

app = typer.Typer(
    name="opsloop",
    help="opsloop — closed-loop customer operations for retail banks (数智化运营平台).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Operational store (migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(load_cli.app, name="load")
app.command("generate")(generate_cli.command)
app.add_typer(collect_cli.app, name="source")
app.add_typer(import_cli.app, name="import")
app.add_typer(collect_cli.privacy_app, name="collect")
app.add_typer(segment_cli.app, name="segment")
app.add_typer(reach_cli.app, name="reach")
app.add_typer(tag_cli.app, name="tag")
app.add_typer(journey_cli.app, name="journey")
app.add_typer(activity_cli.app, name="activity")
app.command("analyze")(analyze_cli.command)
app.add_typer(model_cli.app, name="model")
app.add_typer(monitor_cli.app, name="monitor")
access_cli.register(app)  # user, token, audit, security
app.command("worker")(worker_cli.worker)

FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="table | csv | json")]


@app.callback()
def _global(
    home: Annotated[
        Path | None, typer.Option("--home", help="data directory (OPSLOOP_HOME)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="operational store URL")
    ] = None,
    warehouse: Annotated[
        str | None, typer.Option("--warehouse", help="DuckDB file or postgres URL")
    ] = None,
) -> None:
    """Flags override OPSLOOP_* environment variables."""
    for name, value in (
        ("OPSLOOP_HOME", home),
        ("OPSLOOP_DATABASE_URL", database_url),
        ("OPSLOOP_WAREHOUSE", warehouse),
    ):
        if value is not None:
            os.environ[name] = str(value)
    get_settings.cache_clear()


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads")) -> None:
    """Run the operational store's migrations up to REVISION."""
    from opsloop.store import upgrade

    settings = get_settings()
    settings.ensure_home()
    upgrade(settings.database_url, revision)
    console.print(f"operational store at revision {revision}")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="one read-only SQL statement")],
    fmt: FormatOpt = Format.table,
    dataset: Annotated[str | None, typer.Option(help="dataset (schema) to query")] = None,
    limit: Annotated[int, typer.Option(help="at most this many rows")] = 10_000,
) -> None:
    """Run a read-only SQL query on the warehouse (through the server when it runs)."""
    settings = get_settings()
    link = find_server(settings.server_file)
    if link is not None:
        body = link.post(
            "/api/v1/warehouse/query", {"sql": sql, "dataset": dataset, "limit": limit}
        )
        result = pa.Table.from_pylist(body["rows"]) if body["rows"] else _empty(body["columns"])
    else:
        from opsloop.warehouse import Warehouse

        wh = Warehouse.open(settings.warehouse, read_only=True)
        try:
            result = wh.sql(sql, dataset=dataset, limit=limit)
        finally:
            wh.close()
    print_arrow(result, fmt)


def _empty(columns: list[str]) -> pa.Table:
    return pa.table({c: pa.array([], pa.null()) for c in columns})


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    workers: Annotated[
        int, typer.Option(help="API processes (more than 1 needs OPSLOOP_PROFILE=production)")
    ] = 1,
) -> None:
    """Serve the API (and the console) until interrupted; Ctrl-C shuts down gracefully."""
    _serve(get_settings(), host=host, port=port, workers=workers)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="customers in the demo bank")] = 100_000,
    months: Annotated[int, typer.Option(help="months of history")] = 12,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
) -> None:
    """Generate the demo bank if it is not there yet, then serve it."""
    settings = get_settings()
    settings.ensure_home()
    if not _has_bank(settings):
        console.print(f"generating a synthetic bank of {customers:,} customers, {months} months …")
        generate_cli.run_generate(customers=customers, months=months, seed=seed)
    else:
        console.print(f"reusing the bank in {settings.home}")
    from opsloop.cli.demo_data import ensure_demo_data
    from opsloop.cli.demo_users import ensure_demo_users

    ensure_demo_data(settings, console.print)

    made = ensure_demo_users(settings)
    if made:
        console.print("demo sign-in accounts (also in HOME/demo-users.txt, mode 0600):")
        for name, org, password in made:
            console.print(f"  {name:<9} org {org:<4} password {password}")
    else:
        console.print(f"sign in with your users (demo accounts: {settings.home}/demo-users.txt)")
    _serve(settings, host=None, port=None)


def _has_bank(settings: Settings) -> bool:
    from opsloop.warehouse import Warehouse

    if not Path(settings.warehouse).exists():
        return False
    wh = Warehouse.open(settings.warehouse, read_only=True)
    try:
        return "customers" in wh.tables()
    finally:
        wh.close()


def _serve(settings: Settings, *, host: str | None, port: int | None, workers: int = 1) -> None:
    import secrets

    import uvicorn

    from opsloop.cli.server_link import write_server_file
    from opsloop.logging import configure_logging
    from opsloop.runtime.serving import check_workers

    host = host or settings.host
    port = port or settings.port
    check_workers(settings, workers)
    configure_logging(settings.log_level)
    token = secrets.token_urlsafe(32)
    url = f"http://{host}:{port}"
    if workers > 1:
        _serve_many(settings, host=host, port=port, workers=workers, token=token, url=url)
        return
    from opsloop.api.app import create_app
    from opsloop.runtime.background import Background, start_background

    background: list[Background] = []

    def _ready() -> None:
        write_server_file(settings.server_file, url=url, token=token)
        if os.environ.get("OPSLOOP_BACKGROUND_JOBS", "1") != "0":  # schedulers, in-process
            state = application.state
            background.append(start_background(settings, state.store, state.warehouse))

    def _stop() -> None:
        settings.server_file.unlink(missing_ok=True)
        for job in background:
            job.stop()

    application = create_app(settings, local_token=token, on_ready=_ready, on_stop=_stop)
    config = uvicorn.Config(
        application, host=host, port=port, log_config=None, timeout_graceful_shutdown=10
    )
    console.print(f"opsloop is serving on {url}  (API docs: {url}/docs)  — Ctrl-C to stop")
    uvicorn.Server(config).run()


def _serve_many(
    settings: Settings, *, host: str, port: int, workers: int, token: str, url: str
) -> None:
    """N uvicorn worker processes; metrics are summed over them through a shared dir."""
    import uvicorn

    from opsloop.cli.server_link import write_server_file
    from opsloop.runtime.profile import check_profile
    from opsloop.runtime.serving import LOCAL_TOKEN_ENV, METRICS_DIR_ENV, prepare_metrics_dir

    check_profile(settings)  # fail here, once, rather than in every worker
    os.environ[LOCAL_TOKEN_ENV] = token
    os.environ[METRICS_DIR_ENV] = str(prepare_metrics_dir(settings.ensure_home()))
    write_server_file(settings.server_file, url=url, token=token)
    console.print(f"opsloop is serving on {url} with {workers} processes — Ctrl-C to stop")
    try:
        uvicorn.run(
            "opsloop.api.factory:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,
            timeout_graceful_shutdown=10,
            # A worker imports the whole stack before it answers the supervisor's ping;
            # on a busy machine that takes longer than uvicorn's 5 s default.
            timeout_worker_healthcheck=120,
        )
    finally:
        settings.server_file.unlink(missing_ok=True)


def main() -> None:
    """Entry point: user errors print as one clear line and exit 2, never a traceback."""
    try:
        app()
    except OpsloopError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
