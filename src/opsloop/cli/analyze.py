"""`opsloop analyze FILE.json`: run one analysis document on the warehouse (read-only)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.table import Table as RichTable

from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.cli.output import print_json
from opsloop.errors import InvalidInputError
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.settings import get_settings


class OutFormat(StrEnum):
    json = "json"
    table = "table"


def command(
    file: Annotated[Path, typer.Argument(help="analysis document (JSON)", exists=True)],
    dataset: Annotated[str | None, typer.Option(help="dataset (schema) to query")] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="json | table")] = (
        OutFormat.json
    ),
) -> None:
    """Run FILE's analysis (event, funnel, retention, … see docs/analyses.md)."""
    from opsloop.warehouse import Warehouse

    try:
        raw = orjson.loads(file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(f"not JSON: {exc}", where=str(file)) from None
    doc = validate_analysis(raw)
    wh = Warehouse.open(get_settings().warehouse, read_only=True)
    try:
        # The local operator is bank-wide: the CLI runs where the warehouse file lives.
        result = run_analysis(wh=wh, doc=doc, principal=LOCAL_OPERATOR, dataset=dataset)
    finally:
        wh.close()
    if fmt is OutFormat.json:
        print_json(result)
    else:
        _print_tables(result)


def _print_tables(result: dict[str, Any]) -> None:
    out = Console(file=sys.stdout)
    for key, value in result.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            cols = list(value[0])
            table = RichTable(*cols, title=key)
            for row in value:
                table.add_row(*[_cell(row.get(c)) for c in cols])
            out.print(table)
        else:
            out.print(f"{key}: {_cell(value)}")


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | dict):
        return orjson.dumps(v).decode()
    return "" if v is None else str(v)
