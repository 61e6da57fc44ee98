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

app = typer.Typer(help="Segments (客群): validate and preview.", no_args_is_help=True)


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
