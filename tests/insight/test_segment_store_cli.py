"""`opsloop segment create|list|materialise|export|upload|refresh` on a home of its own."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from opsloop.cli.main import app
from opsloop.settings import get_settings
from opsloop.warehouse import Warehouse

from .conftest import make_bank
from .test_segment_store import RICH, _oracle


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("OPSLOOP_HOME", str(tmp_path))
    monkeypatch.setenv("OPSLOOP_SECRET_KEY", "s" * 40)
    get_settings.cache_clear()
    wh = Warehouse.open(str(tmp_path / "warehouse.duckdb"))
    wh.replace_tables(make_bank(n=300, seed=23))
    wh.close()
    yield tmp_path
    get_settings.cache_clear()


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_segment_commands(cli_home: Path) -> None:
    doc = cli_home / "rich.json"
    doc.write_text(json.dumps(RICH))
    created = json.loads(_run("segment", "create", str(doc)))
    assert created["segment_id"] == "rich" and created["version"] == 1
    other = cli_home / "other.json"
    other.write_text(json.dumps(RICH | {"id": "other"}))
    _run("segment", "create", str(other), "--refresh-cron", "* * * * *")
    listed = json.loads(_run("segment", "list", "--format", "json"))
    assert [s["segment_id"] for s in listed] == ["other", "rich"]
    snap = json.loads(_run("segment", "materialise", "rich", "--as-of", "2025-06-29"))
    expected = _oracle(make_bank(n=300, seed=23))
    assert snap["size"] == len(expected)
    out = cli_home / "rich.csv"
    _run("segment", "export", "rich", "--out", str(out))
    assert set(pd.read_csv(out).customer_id) == expected
    ids = cli_home / "ids.csv"
    ids.write_text("customer_id\n1\n2\n3\n")
    assert json.loads(_run("segment", "upload", "vip", str(ids)))["size"] == 3
    refreshed = json.loads(_run("segment", "refresh", "--due"))
    assert [r["segment_id"] for r in refreshed] == ["other"]  # scheduled, never materialised
    bad = CliRunner().invoke(app, ["segment", "upload", "vip2", str(ids.with_name("x.csv"))])
    assert bad.exit_code != 0
    assert io.StringIO(out.read_text()).readline().startswith("customer_id")
