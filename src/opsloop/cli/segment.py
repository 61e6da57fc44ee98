"""`opsloop segment ...`: check a segment document and preview its audience."""

from __future__ import annotations

import datetime as dt
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table as RichTable

from opsloop.cli.output import console, print_json
from opsloop.errors import InvalidInputError
from opsloop.insight.segments import SegmentValidationError, validate_segment
from opsloop.insight.segments.service import Preview, data_as_of, dir_resolver, preview
from opsloop.settings import get_settings

app = typer.Typer(
    help="Segments (客群): validate, preview, save, materialise, export, upload, refresh.",
    no_args_is_help=True,
)


class OutFormat(StrEnum):
    json = "json"
    table = "table"


FileArg = Annotated[Path, typer.Argument(help="segment document (JSON)", exists=True)]


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON: {exc}", where=str(path)) from None


@app.command("validate")
def validate_cmd(file: FileArg) -> None:
    """Check FILE; print every problem with its JSON path (exit 2 when invalid)."""
    try:
        defn = validate_segment(_load(file))
    except SegmentValidationError as exc:
        print_json(
            {
                "valid": False,
                "issues": [{"where": i.where, "message": i.message} for i in exc.issues],
            }
        )
        raise typer.Exit(2) from None
    print_json({"valid": True, "id": defn.id, "name": defn.name, "version": defn.version})


@app.command("preview")
def preview_cmd(
    file: FileArg,
    dataset: Annotated[str | None, typer.Option(help="dataset (schema) to query")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD; default: latest transaction day")
    ] = None,
    scope: Annotated[
        str | None, typer.Option(help="org path to limit to (辖内), e.g. /HO/B07/")
    ] = None,
    sample: Annotated[int, typer.Option(help="sample rows to show")] = 20,
    segments_dir: Annotated[
        Path | None,
        typer.Option(help="where saved segments (<id>.json) live; default: FILE's folder"),
    ] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="json | table")] = (
        OutFormat.json
    ),
) -> None:
    """Count, sample and break down FILE's audience on the warehouse (read-only)."""
    from opsloop.warehouse import Warehouse

    defn = validate_segment(_load(file))
    wh = Warehouse.open(get_settings().warehouse, read_only=True)
    try:
        day = _parse_day(as_of) if as_of else data_as_of(wh=wh, dataset=dataset)
        result = preview(
            wh=wh,
            defn=defn,
            as_of=day,
            scope_prefix=scope,
            dataset=dataset,
            sample=sample,
            resolve=dir_resolver(segments_dir or file.parent),
        )
    finally:
        wh.close()
    if fmt is OutFormat.json:
        print_json(result.model_dump(mode="json"))
    else:
        _print_tables(result)


def _parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"{text!r} is not a YYYY-MM-DD date", where="--as-of") from None


def _print_tables(result: Preview) -> None:
    out = Console(file=sys.stdout)
    out.print(f"count: {result.count}  (as of {result.as_of}, scope {result.scope or 'all'})")
    branches = RichTable("branch", "count", title="by branch")
    for b in result.by_branch:
        branches.add_row(b.branch, str(b.count))
    out.print(branches)
    if result.by_condition:
        conditions = RichTable("where", "kind", "count", title="each top-level condition alone")
        for c in result.by_condition:
            conditions.add_row(c.where, c.kind, str(c.count))
        out.print(conditions)
    if result.sample:
        columns = list(result.sample[0])
        rows = RichTable(*columns, title="sample")
        for r in result.sample:
            rows.add_row(*["" if r[c] is None else str(r[c]) for c in columns])
        out.print(rows)
    console.print(f"{len(result.sample)} sample row(s)")


# -- the segment store: create, list, materialise, export, upload, refresh ----------------
#
# These run as the local operator (bank-wide) on the store and warehouse of this home;
# they write, so they need the server stopped (the warehouse has one writer).

FormatOpt = Annotated[OutFormat, typer.Option("--format", "-f", help="json | table")]


def _open() -> tuple[Any, Any]:
    from opsloop.store import Store
    from opsloop.warehouse import Warehouse

    settings = get_settings()
    settings.ensure_home()
    return Store.open(settings.database_url), Warehouse.open(settings.warehouse)


def _print(body: Any, fmt: OutFormat) -> None:
    if fmt is OutFormat.json:
        print_json(body)
        return
    rows = body if isinstance(body, list) else [body]
    if not rows:
        console.print("(none)")
        return
    columns = [c for c in rows[0] if c != "definition"]
    table = RichTable(*columns)
    for r in rows:
        table.add_row(*["" if r[c] is None else str(r[c]) for c in columns])
    Console(file=sys.stdout).print(table)


@app.command("create")
def create_cmd(
    file: FileArg,
    refresh_cron: Annotated[
        str | None, typer.Option("--refresh-cron", help="e.g. '0 6 * * *' (daily 06:00)")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="dataset the segment runs on")] = None,
    fmt: FormatOpt = OutFormat.json,
) -> None:
    """Save FILE as a new segment, or as a new version if its id exists."""
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.errors import NotFoundError
    from opsloop.insight.segments import store as segstore

    doc = _load(file)
    store, wh = _open()
    try:
        sid = validate_segment(doc).id
        try:
            segstore.get(store, segment_id=sid or "", principal=LOCAL_OPERATOR)
            seg = segstore.update(
                store, principal=LOCAL_OPERATOR, segment_id=sid or "", doc=doc,
                refresh_cron=refresh_cron,
            )  # fmt: skip
        except NotFoundError:
            seg = segstore.create(
                store, principal=LOCAL_OPERATOR, doc=doc, refresh_cron=refresh_cron,
                dataset=dataset,
            )  # fmt: skip
    finally:
        wh.close()
        store.close()
    _print(seg.public(), fmt)


@app.command("list")
def list_cmd(
    archived: Annotated[bool, typer.Option(help="include archived segments")] = False,
    fmt: FormatOpt = OutFormat.table,
) -> None:
    """Saved segments with owner, org scope, version and schedule."""
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.insight.segments import store as segstore

    store, wh = _open()
    try:
        items = segstore.list_segments(store, principal=LOCAL_OPERATOR, include_archived=archived)
    finally:
        wh.close()
        store.close()
    _print([s.public() for s in items], fmt)


@app.command("materialise")
def materialise_cmd(
    segment_id: Annotated[str, typer.Argument(help="saved segment id")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD")] = None,
    fmt: FormatOpt = OutFormat.json,
) -> None:
    """Snapshot SEGMENT_ID's members now (version, time, size go to its history)."""
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.insight.segments import materialise as mat

    day = _parse_day(as_of) if as_of else None
    store, wh = _open()
    try:
        snap = mat.materialise(
            store, wh, principal=LOCAL_OPERATOR, segment_id=segment_id, as_of=day
        )
    finally:
        wh.close()
        store.close()
    _print(snap, fmt)


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


@app.command("export")
def export_cmd(
    segment_id: Annotated[str, typer.Argument(help="saved segment id")],
    out: Annotated[Path, typer.Option("--out", "-o", help="file to write")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f")] = ExportFormat.csv,
) -> None:
    """Write the latest snapshot's members (PII masked) to OUT; the export is audited."""
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.insight.segments import materialise as mat

    store, wh = _open()
    try:
        data = mat.export(store, wh, principal=LOCAL_OPERATOR, segment_id=segment_id, fmt=fmt)
    finally:
        wh.close()
        store.close()
    out.write_bytes(data)
    console.print(f"wrote {len(data)} bytes → {out}")


@app.command("upload")
def upload_cmd(
    segment_id: Annotated[str, typer.Argument(help="id of the static segment")],
    file: Annotated[Path, typer.Argument(help="CSV of customer ids", exists=True)],
    name: Annotated[str | None, typer.Option(help="display name")] = None,
    fmt: FormatOpt = OutFormat.json,
) -> None:
    """A static segment from FILE's ids (all must be customers), materialised at once."""
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.insight.segments import materialise as mat

    store, wh = _open()
    try:
        snap = mat.upload(
            store, wh, principal=LOCAL_OPERATOR, segment_id=segment_id,
            name=name or file.stem, data=file.read_bytes(),
        )  # fmt: skip
    finally:
        wh.close()
        store.close()
    _print(snap, fmt)


@app.command("refresh")
def refresh_cmd(
    due: Annotated[bool, typer.Option("--due", help="refresh every segment whose cron fired")],
    fmt: FormatOpt = OutFormat.json,
) -> None:
    """Materialise the segments whose refresh schedule fired since their last snapshot."""
    from opsloop.insight.segments import materialise as mat

    if not due:
        raise InvalidInputError("say --due (refresh what the schedules say is due)", where="--due")
    store, wh = _open()
    try:
        done = mat.refresh_due(store, wh, now=dt.datetime.now(dt.UTC))
    finally:
        wh.close()
        store.close()
    _print(done, fmt)
