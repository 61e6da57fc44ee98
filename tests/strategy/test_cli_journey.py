"""`opsloop journey validate|dry-run` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.strategy.helpers import customers, journey_doc

from opsloop.warehouse import Warehouse


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPSLOOP_HOME": str(home), "OPSLOOP_SECRET_KEY": "t" * 40}
    for var in ("OPSLOOP_DATABASE_URL", "OPSLOOP_WAREHOUSE"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "opsloop.cli.main", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_validate_and_dry_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    wh = Warehouse.open(str(home / "warehouse.duckdb"))
    wh.replace_tables({"customers": customers(500)})
    wh.close()
    bad = journey_doc()
    bad["edges"].append({"from": "thanks", "to": "nowhere"})
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    r = _run(home, "journey", "validate", str(tmp_path / "bad.json"), "--format", "json")
    assert r.returncode == 2
    assert json.loads(r.stdout)["issues"][0]["where"] == "edges[8].to"
    doc = journey_doc()
    doc["nodes"][0] = {
        "id": "entry",
        "kind": "segment_entry",
        "config": {
            "segment": {
                "name": "all",
                "root": {
                    "kind": "attribute",
                    "field": "org_path",
                    "op": "starts_with",
                    "value": "/HO/",
                },
            }
        },
    }
    (tmp_path / "ok.json").write_text(json.dumps(doc))
    r = _run(home, "journey", "validate", str(tmp_path / "ok.json"))
    assert r.returncode == 0 and "valid" in r.stderr  # human output goes to the console
    r = _run(home, "journey", "dry-run", str(tmp_path / "ok.json"), "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["candidates"] == 500 and out["entered"] + out["control"] == 500
    assert out["sent"] == out["nodes"]["sms"].get("sent", 0) + out["nodes"]["push"].get("sent", 0)
