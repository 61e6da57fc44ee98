"""`opsloop monitor refresh|alerts|health|uplift` run end to end on a fresh home."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from opsloop.cli.main import app
from opsloop.settings import get_settings
from opsloop.warehouse import Warehouse


def test_monitor_commands(home: Path) -> None:
    get_settings.cache_clear()
    wh = Warehouse.open(str(get_settings().warehouse))
    wh.replace_tables({"probe": pa.table({"x": [1]})})
    wh.close()
    runner = CliRunner()
    out = runner.invoke(app, ["monitor", "refresh"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"refreshed": []}
    out = runner.invoke(app, ["monitor", "alerts"])
    assert out.exit_code == 0 and json.loads(out.output) == {"checks": []}
    out = runner.invoke(app, ["monitor", "health"])
    assert out.exit_code == 0, out.output
    h = json.loads(out.output)
    assert h["stuck"] == [] and h["failed_sends"] == []
    assert h["suppressions"]["contacts"]["count"] == 0
    out = runner.invoke(
        app, ["monitor", "uplift", "--treatment", "a", "--control", "b", "--outcome", "visit"]
    )
    assert out.exit_code != 0 and "experiment_assignments" in str(out.exception)
