"""`opsloop tag create|list|run|import` against a home holding the small generated bank."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
from typer.testing import CliRunner

from opsloop.cli.main import app

TAGS = [
    {"type": "rule", "name": "risk_4_plus", "category": "风险/偏好",
     "condition": {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 4}},
    {"type": "statistic", "name": "txn_30d", "category": "交易", "value_type": "number",
     "measure": {"of": "transactions", "agg": "count", "last_days": 30}},
    {"type": "manual", "name": "guests", "category": "名单"},
]  # fmt: skip


def test_create_list_import_run(
    home: Path, tmp_path: Path, bank_file: Path, bank: dict[str, pa.Table]
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(bank_file, home / "warehouse.duckdb")
    runner = CliRunner()
    file = tmp_path / "tags.json"
    file.write_text(json.dumps(TAGS, ensure_ascii=False))
    made = runner.invoke(app, ["tag", "create", str(file), "--format", "json"])
    assert made.exit_code == 0, made.output
    assert [t["name"] for t in json.loads(made.stdout)] == ["risk_4_plus", "txn_30d", "guests"]

    ids = tmp_path / "ids.csv"
    ids.write_text("customer_id\n1\n2\n2\n400\n")
    imported = runner.invoke(app, ["tag", "import", "guests", str(ids)])
    assert imported.exit_code == 0 and json.loads(imported.stdout)["customer_ids"] == 3

    ran = runner.invoke(app, ["tag", "run", "--all", "--as-of", "2025-06-29", "--format", "json"])
    assert ran.exit_code == 0, ran.output
    body = json.loads(ran.stdout)
    runs = {r["tag"]: r for r in body["runs"]}
    assert body["as_of"] == "2025-06-29" and set(runs) == {"risk_4_plus", "txn_30d", "guests"}
    levels = bank["customers"].column("kyc_risk_level").to_pylist()
    assert runs["risk_4_plus"]["distribution"]["true"] == sum(1 for v in levels if v and v >= 4)
    assert runs["guests"]["distribution"] == {"true": 3, "false": len(levels) - 3}
    assert runs["txn_30d"]["coverage"] == 1.0

    one = runner.invoke(app, ["tag", "run", "txn_30d", "--as-of", "2025-06-20", "-f", "json"])
    assert one.exit_code == 0 and [r["tag"] for r in json.loads(one.stdout)["runs"]] == ["txn_30d"]
    listed = runner.invoke(app, ["tag", "list", "--category", "交易", "--format", "json"])
    rows = json.loads(listed.stdout)
    assert [r["name"] for r in rows] == ["txn_30d"]
    assert rows[0]["last_run"]["as_of"] == "2025-06-20"
    table = runner.invoke(app, ["tag", "list"])
    assert table.exit_code == 0 and "100.0%" in table.stdout


def test_update_versions_prune_archive(home: Path, tmp_path: Path, bank_file: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(bank_file, home / "warehouse.duckdb")
    runner = CliRunner()
    file = tmp_path / "tags.json"
    file.write_text(json.dumps(TAGS[:1], ensure_ascii=False))
    assert runner.invoke(app, ["tag", "create", str(file)]).exit_code == 0
    change = tmp_path / "change.json"
    change.write_text(json.dumps({"description": "KYC 4+", "schedule": "0 3 * * 1"}))
    up = runner.invoke(app, ["tag", "update", "risk_4_plus", str(change), "-f", "json"])
    assert up.exit_code == 0, up.output
    assert (
        json.loads(up.stdout)["version"] == 2 and json.loads(up.stdout)["schedule"] == "0 3 * * 1"
    )
    change.write_text(json.dumps({"schedule": "0 3 * * 9"}))
    bad = runner.invoke(app, ["tag", "update", "risk_4_plus", str(change)])
    assert bad.exit_code != 0 and "schedule" in bad.output + str(bad.exception)
    versions = runner.invoke(app, ["tag", "versions", "risk_4_plus"])
    assert [v["version"] for v in json.loads(versions.stdout)] == [1, 2]
    for day in ("2025-05-01", "2025-06-29"):
        assert runner.invoke(app, ["tag", "run", "--all", "--as-of", day]).exit_code == 0
    pruned = runner.invoke(app, ["tag", "prune", "--keep-days", "30", "--today", "2025-06-29"])
    assert pruned.exit_code == 0, pruned.output
    assert json.loads(pruned.stdout)["rows_dropped"] == 400  # the bank's 400 customers, 1 day
    no_keep = runner.invoke(app, ["tag", "prune"])
    assert no_keep.exit_code != 0 and "--keep-days" in no_keep.output + str(no_keep.exception)
    gone = runner.invoke(app, ["tag", "archive", "risk_4_plus", "-f", "json"])
    assert gone.exit_code == 0 and json.loads(gone.stdout)["archived_at"]
    listed = runner.invoke(app, ["tag", "list", "-f", "json"])
    assert json.loads(listed.stdout) == []
    assert (
        len(json.loads(runner.invoke(app, ["tag", "list", "--archived", "-f", "json"]).stdout)) == 1
    )
