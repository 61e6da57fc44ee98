"""``opsloop import events FILE``: history into the event log and the warehouse.

Thin: :mod:`opsloop.collect.importer` validates the whole file first (all or nothing,
errors as ``file:line.field``), then the records are appended to the event stream —
the embedded log, or Redis when ``OPSLOOP_REDIS_URL`` is set — idempotently on
``messageId``. With the embedded log the command then moves what is new into the
warehouse itself (as the server's flusher would), so ``opsloop query`` sees it at once.
The embedded log has one writer: with ``opsloop serve`` running on the same home, stop
it first (or use Redis), and the command says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from opsloop.collect import importer, sources
from opsloop.collect.flush import CONSUMER, flush_records
from opsloop.collect.log import EventLog, LogLockedError
from opsloop.collect.stream import open_stream
from opsloop.errors import OpsloopError
from opsloop.settings import get_settings
from opsloop.store import Store
from opsloop.warehouse import Warehouse

app = typer.Typer(help="Import data files (events history).", no_args_is_help=True)

CHUNK = 5000


@app.command("events")
def events(
    file: Annotated[Path, typer.Argument(help="CSV, JSON lines or Parquet file")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv | jsonl | parquet (default: suffix)")
    ] = None,
    source: Annotated[str, typer.Option(help="source name the events come from")] = "import",
) -> None:
    """Validate every row, then store the events once each (re-running is harmless)."""
    settings = get_settings()
    settings.ensure_home()
    if not file.is_file():
        raise OpsloopError(f"no such file: {file}", where="FILE")
    store = Store.open(settings.database_url)
    try:
        info = sources.find_source(store, name=source)
        if info is None:
            info, _key = sources.create_source(store, name=source)
        records = importer.prepare(file, source_id=info.source_id, fmt=fmt)
        try:
            stream = open_stream(settings.home, settings.redis_url)
        except LogLockedError as exc:
            raise OpsloopError(f"{exc}; imports write the same log", where="OPSLOOP_HOME") from exc
        stored = duplicates = inserted = 0
        try:
            for i in range(0, len(records), CHUNK):
                result = stream.append(records[i : i + CHUNK], timeout=600)
                stored += result.stored
                duplicates += len(result.duplicates)
            if isinstance(stream, EventLog):
                inserted = _flush(stream, store, settings.warehouse)
        finally:
            stream.close()
    finally:
        store.close()
    summary = {
        "file": str(file),
        "rows": len(records),
        "stored": stored,
        "duplicates": duplicates,
        "warehouse_inserted": inserted,
    }
    typer.echo(orjson.dumps(summary).decode())


def _flush(log: EventLog, store: Store, warehouse_url: str) -> int:
    """Drain the warehouse consumer (what the server's flusher does), committing as it goes."""
    consumer = log.consumer(CONSUMER, batch=CHUNK)
    inserted = 0
    wh = Warehouse.open(warehouse_url)
    try:
        while records := consumer.poll():
            inserted += flush_records(records, store=store, warehouse=wh)
            consumer.commit()
    finally:
        wh.close()
    return inserted
