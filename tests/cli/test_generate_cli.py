"""`opsloop generate` through the real CLI: progress on stderr, JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_generate_prints_json_counts_that_match_the_warehouse(tmp_path: Path) -> None:
    env = {**os.environ, "OPSLOOP_HOME": str(tmp_path), "OPSLOOP_SECRET_KEY": "k" * 40}
    cli = [sys.executable, "-m", "opsloop.cli.main"]
    out = subprocess.run(
        [*cli, "generate", "--customers", "1500", "--months", "2", "--seed", "3", "-f", "json"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["rows"]["customers"] == 1500
    q = subprocess.run(
        [*cli, "query", "select count(*) as n from transactions", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert json.loads(q.stdout)["rows"] == [{"n": body["rows"]["transactions"]}]
    bad = subprocess.run(
        [*cli, "generate", "--customers", "0"], env=env, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "positive" in bad.stderr and "Traceback" not in bad.stderr
