"""`opsloop query` works alone and while `opsloop serve` holds the DuckDB file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from opsloop.warehouse import Warehouse, WarehouseBusyError

OPSLOOP = [sys.executable, "-m", "opsloop.cli.main"]


def _seed(home: Path) -> None:
    wh = Warehouse.open(str(home / "warehouse.duckdb"))
    orgs = pa.table(
        {
            "org_id": ["HO", "B01", "B01S01"],
            "parent_id": [None, "HO", "B01"],
            "level": ["head_office", "branch", "sub_branch"],
            "name": ["总行", "一分行", "一支行"],
            "name_en": ["Head office", "Branch 1", "Sub-branch 1"],
            "city": ["北京", "北京", "北京"],
            "path": ["/HO/", "/HO/B01/", "/HO/B01/B01S01/"],
        }
    )
    wh.replace_tables({"org_units": orgs})
    wh.close()


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSLOOP_HOME": str(home), "OPSLOOP_SECRET_KEY": "t" * 40}
    return subprocess.run([*OPSLOOP, *args], env=env, capture_output=True, text=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_query_without_server(tmp_path: Path) -> None:
    _seed(tmp_path)
    out = _run(
        tmp_path,
        "query",
        "select level, count(*) as n from org_units group by 1 order by 1",
        "--format",
        "json",
    )
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["rows"] == [
        {"level": "branch", "n": 1},
        {"level": "head_office", "n": 1},
        {"level": "sub_branch", "n": 1},
    ]
    csv = _run(tmp_path, "query", "select org_id from org_units order by 1", "--format", "csv")
    assert csv.stdout.splitlines() == ["org_id", "B01", "B01S01", "HO"]


def test_write_statements_are_refused_and_change_nothing(tmp_path: Path) -> None:
    _seed(tmp_path)
    out = _run(tmp_path, "query", "delete from org_units")
    assert out.returncode == 2
    assert "read-only" in out.stderr and "DELETE" in out.stderr
    assert "Traceback" not in out.stderr
    n = _run(tmp_path, "query", "select count(*) as n from org_units", "--format", "json")
    assert json.loads(n.stdout)["rows"] == [{"n": 3}]


@pytest.mark.slow
def test_query_goes_through_a_running_server(tmp_path: Path) -> None:
    _seed(tmp_path)
    port = _free_port()
    env = {**os.environ, "OPSLOOP_HOME": str(tmp_path), "OPSLOOP_SECRET_KEY": "t" * 40}
    server = subprocess.Popen(
        [*OPSLOOP, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "server.json").exists():
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        # The server holds the DuckDB file: a direct open from here must fail ...
        with pytest.raises(WarehouseBusyError):
            Warehouse.open(str(tmp_path / "warehouse.duckdb"), read_only=True)
        # ... yet the CLI still answers, through the server.
        out = _run(tmp_path, "query", "select count(*) as n from org_units", "--format", "json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["rows"] == [{"n": 3}]
        refused = _run(tmp_path, "query", "drop table org_units")
        assert refused.returncode == 2 and "DROP" in refused.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0 or server.returncode == -signal.SIGTERM
    assert not (tmp_path / "server.json").exists(), "graceful shutdown withdraws server.json"
    out = _run(tmp_path, "query", "select count(*) as n from org_units", "--format", "json")
    assert json.loads(out.stdout)["rows"] == [{"n": 3}]
