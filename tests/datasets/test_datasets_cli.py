"""`opsloop load …` on the command line: JSON row counts, and a bad path as a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.datasets.realdata import shared_datasets
from typer.testing import CliRunner

from opsloop.cli.main import app
from opsloop.errors import InvalidInputError


@pytest.mark.realdata
def test_load_hillstrom_json(home: Path) -> None:
    path = shared_datasets() / "hillstrom"
    result = CliRunner().invoke(
        app, ["load", "hillstrom", str(path), "--dataset", "hs-test", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["dataset"] == "hs_test"
    assert body["row_counts"]["customers"] == 64000
    assert body["row_counts"]["experiment_outcomes"] == 3 * 64000
    assert (home / "warehouse.duckdb").exists()


def test_missing_path_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["load", "bank-marketing", str(tmp_path / "nowhere")])
    assert isinstance(result.exception, InvalidInputError)
    assert str(result.exception).startswith("nowhere: file not found")
