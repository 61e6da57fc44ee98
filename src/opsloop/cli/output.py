"""Printing results: a Rich table for people, CSV or JSON for scripts."""

from __future__ import annotations

import csv
import io
import sys
from enum import StrEnum
from typing import Any

import orjson
import pyarrow as pa
from rich.console import Console
from rich.table import Table as RichTable

console = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return value


def print_arrow(result: pa.Table, fmt: Format) -> None:
    rows = result.to_pylist()
    if fmt is Format.json:
        sys.stdout.write(
            orjson.dumps(
                {"columns": result.column_names, "rows": rows, "count": len(rows)},
                default=str,
                option=orjson.OPT_NON_STR_KEYS,
            ).decode()
            + "\n"
        )
    elif fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(result.column_names)
        writer.writerows([[_plain(r[c]) for c in result.column_names] for r in rows])
        sys.stdout.write(buf.getvalue())
    else:
        table = RichTable(*result.column_names, show_lines=False)
        for r in rows:
            table.add_row(*["" if r[c] is None else str(_plain(r[c])) for c in result.column_names])
        Console().print(table)
        console.print(f"{len(rows)} row(s)")


def print_json(payload: Any) -> None:
    sys.stdout.write(orjson.dumps(payload, default=str).decode() + "\n")
