"""`opsloop analyze FILE.json` on a read-only warehouse, JSON and table output."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from typer.testing import CliRunner

from access.fixtures import customers_table
from opsloop.cli.main import app
from opsloop.settings import get_settings
from opsloop.warehouse import Warehouse


def _seed(home: Path) -> None:
    wh = Warehouse.open(str(get_settings().warehouse))
    t0 = dt.datetime(2024, 1, 1, 9)
    events = pa.table(
        {
            "message_id": ["1", "2", "3"],
            "ts": pa.array([t0, t0 + dt.timedelta(hours=1), t0], pa.timestamp("us")),
            "event": ["open", "buy", "open"],
            "customer_id": pa.array([1, 1, 2], pa.int64()),
            "anonymous_id": ["d", "d", "e"],
            "platform": ["ios"] * 3,
            "properties": ["{}"] * 3,
        }
    )
    customers = customers_table().filter(
        pc.is_in(customers_table()["customer_id"], pa.array([1, 2]))
    )
    wh.replace_tables({"events": events, "customers": customers}, dataset="t")
    wh.close()


def test_analyze_json_and_table(home: Path, tmp_path: Path) -> None:
    get_settings.cache_clear()
    _seed(home)
    doc = {"analysis": {"kind": "funnel", "steps": [{"event": "open"}, {"event": "buy"}],
                        "start": "2024-01-01", "end": "2024-01-01"}}  # fmt: skip
    f = tmp_path / "funnel.json"
    f.write_text(json.dumps(doc))
    runner = CliRunner()
    out = runner.invoke(app, ["analyze", str(f), "--dataset", "t"])
    assert out.exit_code == 0, out.output
    steps = json.loads(out.output)["groups"][0]["steps"]
    assert [s["customers"] for s in steps] == [2, 1]
    table = runner.invoke(app, ["analyze", str(f), "--dataset", "t", "--format", "table"])
    assert table.exit_code == 0 and "groups" in table.output
    f.write_text(json.dumps({"analysis": {**doc["analysis"], "order": "sideways"}}))
    bad = runner.invoke(app, ["analyze", str(f), "--dataset", "t"])
    assert bad.exit_code != 0
