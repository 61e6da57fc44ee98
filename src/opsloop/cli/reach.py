"""`opsloop reach ...`: dispatch workers, templates, slots, sends to a segment, history.

Thin commands over :mod:`opsloop.reach`; the local operator acts bank-wide (the CLI runs
on the server, as whoever can read its home).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from opsloop.access.clock import utcnow
from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.cli.output import console, print_json
from opsloop.errors import InvalidInputError
from opsloop.settings import get_settings

app = typer.Typer(
    help="Reach center (触达中心): dispatch, templates, history.", no_args_is_help=True
)
template_app = typer.Typer(help="Message templates.", no_args_is_help=True)
app.add_typer(template_app, name="template")
slot_app = typer.Typer(help="App resource slots (资源位).", no_args_is_help=True)
app.add_typer(slot_app, name="slot")


class OutFormat(StrEnum):
    json = "json"
    table = "table"


FormatOpt = Annotated[OutFormat, typer.Option("--format", "-f", help="json | table")]


def _json_file(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON: {exc}", where=str(path)) from None


def _print(value: Any, fmt: OutFormat) -> None:
    if fmt is OutFormat.json:
        print_json(value)
        return
    rows = value if isinstance(value, list) else [value]
    for r in rows:
        console.print("  ".join(f"{k}={v}" for k, v in r.items()), highlight=False)


@app.command("dispatch")
def dispatch_cmd(
    channel: Annotated[
        list[str] | None, typer.Option("--channel", "-c", help="only these channels")
    ] = None,
    workers: Annotated[int, typer.Option(help="worker processes", min=1, max=64)] = 1,
    once: Annotated[bool, typer.Option(help="stop when nothing is due")] = False,
    config: Annotated[
        Path | None, typer.Option(help="channel config (default HOME/reach.json)")
    ] = None,
) -> None:
    """Send due outbox messages until SIGTERM/Ctrl-C (the batches in hand are finished).

    Several workers (here or on other hosts) share the outbox safely: rows are leased,
    and a dead worker's rows are picked up again when their lease expires.
    """
    settings = get_settings()
    path = config or settings.home / "reach.json"
    if not path.is_file():
        raise InvalidInputError("no channel config; write HOME/reach.json", where=str(path))
    if workers > 1:
        _spawn(workers, channel, once, path)
        return
    n = _run_worker(settings.database_url, path, channel, once)
    console.print(f"dispatched {n} messages", highlight=False)


def _run_worker(db: str, path: Path, channels: list[str] | None, once: bool) -> int:
    import uvloop

    from opsloop.reach.aio import AsyncDispatcher
    from opsloop.reach.config import ReachConfig, build_channels
    from opsloop.store import Store

    cfg = ReachConfig.load(path)
    store = Store.open(db)
    chans = build_channels(cfg, store, asynchronous=True)
    if channels:
        unknown = sorted(set(channels) - set(chans))
        if unknown:
            raise InvalidInputError(f"no channel {unknown} in {path}", where="--channel")
        chans = {k: v for k, v in chans.items() if k in channels}
    d = AsyncDispatcher(
        store,
        chans,
        policy=cfg.retry,
        lease=timedelta(seconds=cfg.lease_s),
        batch=cfg.batch,
        inflight=cfg.inflight,
        lanes=cfg.concurrency,
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await d.run(stop, once=once)

    try:
        return uvloop.run(main())
    finally:
        d.close()
        store.close()


def _spawn(workers: int, channels: list[str] | None, once: bool, path: Path) -> None:
    """``workers`` child processes of ``dispatch``; SIGTERM is passed on to each."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "opsloop.cli.main", "reach", "dispatch", "--config", str(path)]
    args += [a for c in channels or [] for a in ("--channel", c)]
    args += ["--once"] if once else []
    procs = [subprocess.Popen(args) for _ in range(workers)]  # noqa: S603 (our own argv)

    def forward(*_: object) -> None:
        for p in procs:
            p.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [p.wait() for p in procs]
    if any(codes):
        raise typer.Exit(max(codes))


@template_app.command("create")
def template_create(
    file: Annotated[Path, typer.Argument(help="template document (JSON)", exists=True)],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Validate (render against a sample customer) and save as the next version."""
    from pydantic import ValidationError

    from opsloop.reach import service
    from opsloop.reach.templates import TemplateDef
    from opsloop.store import Store

    try:
        t = TemplateDef.model_validate(_json_file(file))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInputError(err["msg"], where=f"{file}:{where}") from None
    store = Store.open(get_settings().database_url)
    try:
        out = service.save_template(store, principal=LOCAL_OPERATOR, definition=t, now=utcnow())
    finally:
        store.close()
    _print(out, fmt)


@template_app.command("preview")
def template_preview(
    template_id: Annotated[str, typer.Argument(help="template id")],
    customer: Annotated[int, typer.Option("--customer", help="a real customer id")],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Render with a real customer (PII masked)."""
    from opsloop.reach import service
    from opsloop.store import Store
    from opsloop.warehouse import Warehouse

    settings = get_settings()
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    try:
        out = service.preview(
            store,
            wh,
            principal=LOCAL_OPERATOR,
            template_id=template_id,
            customer_id=customer,
            cipher=None,
        )
    finally:
        wh.close()
        store.close()
    _print(out, fmt)


@slot_app.command("add")
def slot_add(
    file: Annotated[Path, typer.Argument(help="slot content (JSON, as POST /reach/slots)")],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Add slot content; with ``activity_id`` it is that activity's banner (shown while
    the activity runs; ``hide_participants`` hides it from customers who took part)."""
    from pydantic import ValidationError

    from opsloop.reach import service
    from opsloop.store import Store

    try:
        body = service.SlotContentIn.model_validate(_json_file(file))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidInputError(err["msg"], where=f"{file}:{where}") from None
    store = Store.open(get_settings().database_url)
    try:
        cid = service.add_slot_content(store, principal=LOCAL_OPERATOR, body=body, now=utcnow())
    finally:
        store.close()
    _print({"id": cid, "slot": body.slot}, fmt)


@slot_app.command("show")
def slot_show(
    slot: Annotated[str, typer.Argument(help="slot name")],
    customer: Annotated[int, typer.Option("--customer", min=0, help="customer id")],
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """What the app would be shown now in ``slot`` for ``customer`` (a fresh index)."""
    from opsloop.reach.slots import SlotIndex
    from opsloop.store import Store

    store = Store.open(get_settings().database_url)
    try:
        index = SlotIndex(store)
        index.refresh()
        out = index.answer(slot, customer)
    finally:
        store.close()
    content = out["content"]
    _print(out if fmt is OutFormat.json else {"slot": slot, **(content or {"content": None})}, fmt)


@app.command("send")
def send_cmd(
    template_id: Annotated[str, typer.Argument(help="template id")],
    segment: Annotated[Path, typer.Option(help="segment document (JSON)", exists=True)],
    campaign: Annotated[str, typer.Option(help="campaign name (rerun = same messages)")],
    as_of: Annotated[str | None, typer.Option(help="day the segment windows end")] = None,
    link_base: Annotated[str, typer.Option(help="public base URL of /r/ links")] = (
        "https://bank.example"
    ),
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Render the template for every customer of the segment and enqueue it once each."""
    from opsloop.access.crypto import PiiCipher
    from opsloop.insight.segments.service import validate_segment
    from opsloop.reach import audience
    from opsloop.store import Store
    from opsloop.warehouse import Warehouse

    defn = validate_segment(_json_file(segment))
    day = dt.date.fromisoformat(as_of) if as_of else None
    settings = get_settings()
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    try:
        run = audience.send_to_segment(
            store,
            wh,
            principal=LOCAL_OPERATOR,
            template_id=template_id,
            segment=defn,
            campaign=campaign,
            now=utcnow(),
            as_of=day,
            link_base=link_base,
            cipher=PiiCipher.from_secret(settings.resolved_secret_key()),
        )
    finally:
        wh.close()
        store.close()
    _print(vars(run), fmt)


@app.command("history")
def history_cmd(
    customer: Annotated[int | None, typer.Option("--customer", help="customer id")] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="campaign")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Contact history (attempts, suppressions, deliveries, responses), newest first."""
    from opsloop.reach import service
    from opsloop.store import Store
    from opsloop.warehouse import Warehouse

    settings = get_settings()
    store = Store.open(settings.database_url)
    wh = Warehouse.open(settings.warehouse)
    try:
        rows = service.contacts(
            store,
            wh,
            principal=LOCAL_OPERATOR,
            customer_id=customer,
            campaign=campaign,
            limit=limit,
        )
    finally:
        wh.close()
        store.close()
    _print([r | {"at": r["at"].isoformat()} for r in rows], fmt)
