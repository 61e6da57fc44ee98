"""``opsloop import events``: CSV / JSON lines / Parquet, same validation, all or nothing,
idempotent on messageId, and the rows are in the warehouse afterwards."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from opsloop.cli import import_events
from opsloop.cli.main import app as main_app
from opsloop.collect.importer import prepare
from opsloop.collect.log import EventLog
from opsloop.collect.segment import BadEventError
from opsloop.settings import get_settings
from opsloop.warehouse import Warehouse

ROWS: list[dict[str, Any]] = [
    {
        "event": "fund_buy",
        "userId": "1001",
        "messageId": "h-1",
        "timestamp": "2023-03-01T09:00:00Z",
        "properties": {"fund": "F1", "amount": 5000},
    },
    {
        "type": "identify",
        "userId": "1002",
        "anonymousId": "dev-9",
        "messageId": "h-2",
        "timestamp": "2023-03-02T10:00:00Z",
        "traits": {"tier": "gold"},
    },
    {
        "event": "app_open",
        "anonymousId": "dev-9",
        "timestamp": "2023-03-01T08:00:00Z",  # no messageId: derived from the content
    },
]


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.callback()(main_app.registered_callback.callback)  # type: ignore[union-attr]
    root.add_typer(import_events.app, name="import")
    return root


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    elif path.suffix == ".csv":
        cols = ["type", "event", "userId", "anonymousId", "messageId", "timestamp"]
        cols += ["properties", "traits"]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in rows:
                w.writerow(
                    {
                        k: (orjson.dumps(v).decode() if isinstance(v, dict) else v)
                        for k, v in r.items()
                    }
                )
    else:
        flat = [
            {k: orjson.dumps(v).decode() if isinstance(v, dict) else v for k, v in r.items()}
            for r in rows
        ]
        keys = sorted({k for r in flat for k in r})
        table = pa.table({k: [r.get(k) for r in flat] for k in keys})
        pq.write_table(table, path)
    return path


def _events() -> list[tuple[Any, ...]]:
    wh = Warehouse.open(get_settings().warehouse)
    try:
        t = wh.sql(
            "select message_id, event, customer_id, anonymous_id, cast(ts as varchar) as ts "
            "from events order by message_id"
        )
        return [tuple(r.values()) for r in t.to_pylist()]
    finally:
        wh.close()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_import_stores_each_row_once_and_lands_in_the_warehouse(
    home: Path, tmp_path: Path, suffix: str
) -> None:
    path = _write(tmp_path / f"history{suffix}", ROWS)
    runner = CliRunner()
    r = runner.invoke(_cli(), ["import", "events", str(path)])
    assert r.exit_code == 0, r.output
    first = orjson.loads(r.stdout.strip().splitlines()[-1])
    assert first["stored"] == 3 and first["duplicates"] == 0 and first["warehouse_inserted"] == 3
    got = _events()
    assert [g[0] for g in got][:2] == ["h-1", "h-2"] and got[2][0].startswith("imp-")
    by_id = {g[0]: g for g in got}
    assert by_id["h-1"][1:3] == ("fund_buy", 1001)
    assert by_id["h-1"][4].startswith("2023-03-01 09:00:00")  # history keeps its time
    # the same file again: nothing new anywhere (derived ids are stable too)
    r = runner.invoke(_cli(), ["import", "events", str(path)])
    assert r.exit_code == 0, r.output
    again = orjson.loads(r.stdout.strip().splitlines()[-1])
    assert again["stored"] == 0 and again["duplicates"] == 3
    assert _events() == got


@pytest.mark.parametrize(
    ("row", "line_field", "reason"),
    [
        ({"event": "x", "timestamp": "2023-01-01T00:00:00Z"}, "3.userId", "missing_field"),
        ({"event": "x", "userId": "1", "timestamp": "yesterday"}, "3.timestamp", "bad_timestamp"),
        (
            {"event": "x", "userId": "1", "timestamp": "2999-01-01T00:00:00Z"},
            "3.timestamp",
            "timestamp_future",
        ),
        ({"type": "bogus", "userId": "1"}, "3.type", "unknown_type"),
        ({"userId": "1", "timestamp": "2023-01-01T00:00:00Z"}, "3.event", "missing_field"),
    ],
)
def test_a_bad_row_names_file_line_and_field_and_nothing_is_stored(
    home: Path, tmp_path: Path, row: dict[str, Any], line_field: str, reason: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", [ROWS[0], ROWS[1], row])
    with pytest.raises(BadEventError) as err:
        prepare(path, source_id="src_t")
    assert err.value.where == f"bad.jsonl:{line_field}" and err.value.reason == reason
    r = CliRunner().invoke(_cli(), ["import", "events", str(path)])
    assert r.exit_code != 0
    with EventLog(get_settings().home / "events") as log:
        assert log.end_offset == 0  # all or nothing


def test_csv_error_names_the_physical_line_and_bad_json_cell(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        "event,userId,timestamp,properties\n"
        'a,1,2023-01-01T00:00:00Z,"{""k"": 1}"\n'
        'b,2,2023-01-01T00:00:00Z,"{not json"\n'
    )
    with pytest.raises(BadEventError) as err:
        prepare(path, source_id="src_t")
    assert err.value.where == "e.csv:3.properties" and err.value.reason == "malformed_json"


def test_unknown_columns_become_properties(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "event,userId,timestamp,branch,properties.fund\nv,7,2023-01-01T00:00:00Z,B7,F9\n"
    )
    ((_, payload),) = prepare(path, source_id="src_t")
    msg = orjson.loads(payload)
    assert msg["properties"] == {"branch": "B7", "fund": "F9"} and msg["userId"] == "7"
