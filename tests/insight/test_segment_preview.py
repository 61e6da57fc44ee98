"""Preview service and the `segment` CLI on the generated bank; golden SQL of one document."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from opsloop.cli.segment import app
from opsloop.errors import InvalidInputError
from opsloop.insight.segments import compile_segment, preview, validate_segment
from opsloop.insight.segments.service import SAMPLE_COLUMNS, data_as_of
from opsloop.settings import get_settings
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import TABLES_BY_NAME

from .conftest import AS_OF

SNAPSHOTS = Path(__file__).parent / "snapshots"

# 近30天流出资金>5万 or (7天内浏览基金详情≥3次 and not DND), among KYC C3+ customers.
DOC: dict[str, Any] = {
    "id": "wealth_prospects",
    "name": "理财潜客",
    "description": "large outflows or repeated fund browsing, KYC C3+",
    "version": 2,
    "root": {
        "kind": "and",
        "children": [
            {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 3},
            {
                "kind": "or",
                "children": [
                    {
                        "kind": "txn_aggregate",
                        "agg": "sum",
                        "where": {"direction": "out"},
                        "last_days": 30,
                        "op": ">",
                        "value": 5000,
                    },
                    {
                        "kind": "and",
                        "children": [
                            {
                                "kind": "behaviour",
                                "step": {"event": "fund_detail_view"},
                                "op": ">=",
                                "count": 2,
                                "last_days": 7,
                            },
                            {
                                "kind": "not",
                                "child": {
                                    "kind": "attribute",
                                    "field": "dnd",
                                    "op": "=",
                                    "value": True,
                                },
                            },
                        ],
                    },
                ],
            },
        ],
    },
}


def _members(bank: dict[str, pa.Table], wh: Warehouse, scope: str | None) -> set[int]:
    tables = {n: wh.table(n) for n in ("customers", "transactions", "events")}
    expr = compile_segment(validate_segment(DOC), wh_tables=tables, as_of=AS_OF, scope_prefix=scope)
    return set(wh.execute(expr).column("customer_id").to_pylist())


def test_preview_counts_sample_and_breakdowns(
    bank: dict[str, pa.Table], bank_wh: Warehouse
) -> None:
    members = _members(bank, bank_wh, None)
    result = preview(wh=bank_wh, defn=validate_segment(DOC), as_of=AS_OF, sample=5)
    assert result.count == len(members) > 5
    assert [r["customer_id"] for r in result.sample] == sorted(members)[:5]
    assert list(result.sample[0]) == list(SAMPLE_COLUMNS)
    paths = dict(
        zip(
            bank["customers"].column("customer_id").to_pylist(),
            bank["customers"].column("org_path").to_pylist(),
            strict=True,
        )
    )
    expected: dict[str, int] = {}
    for cid in members:
        parts = paths[cid].split("/")
        branch = parts[2] or "HO"
        expected[branch] = expected.get(branch, 0) + 1
    assert {b.branch: b.count for b in result.by_branch} == expected
    assert [c.kind for c in result.by_condition] == ["attribute", "or"]
    assert all(c.count >= result.count for c in result.by_condition)


def test_preview_in_scope(bank: dict[str, pa.Table], bank_wh: Warehouse) -> None:
    result = preview(
        wh=bank_wh, defn=validate_segment(DOC), as_of=AS_OF, scope_prefix="/HO/B02/", sample=0
    )
    assert result.count == len(_members(bank, bank_wh, "/HO/B02/")) > 0
    assert [b.branch for b in result.by_branch] == ["B02"]
    assert result.sample == []


def test_preview_rejects_huge_samples(bank_wh: Warehouse) -> None:
    with pytest.raises(InvalidInputError):
        preview(wh=bank_wh, defn=validate_segment(DOC), as_of=AS_OF, sample=10_000)


def test_data_as_of_is_the_latest_transaction_day(bank_wh: Warehouse) -> None:
    assert data_as_of(wh=bank_wh) == dt.date(2025, 7, 2)


def test_compiled_sql_matches_golden_file() -> None:
    tables = {
        n: ibis.table(ibis.Schema.from_pyarrow(TABLES_BY_NAME[n].schema), name=n)
        for n in ("customers", "transactions", "events")
    }
    expr = compile_segment(
        validate_segment(DOC), wh_tables=tables, as_of=AS_OF, scope_prefix="/HO/B07/"
    )
    sql = ibis.to_sql(expr, dialect="duckdb").strip() + "\n"
    golden = SNAPSHOTS / "wealth_prospects" / "out.sql"
    if os.environ.get("OPSLOOP_UPDATE_SNAPSHOTS") == "1" or not golden.exists():
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(sql)
    assert sql == golden.read_text()


# -- CLI ------------------------------------------------------------------------------------
@pytest.fixture
def cli_env(bank_file: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OPSLOOP_WAREHOUSE", str(bank_file))
    monkeypatch.setenv("OPSLOOP_HOME", str(bank_file.parent))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False))
    return path


def test_cli_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(_write(tmp_path, "ok.json", DOC))])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {
        "valid": True,
        "id": "wealth_prospects",
        "name": "理财潜客",
        "version": 2,
    }
    bad = {**DOC, "root": {"kind": "and", "children": [{"kind": "attribute", "field": "pwd"}]}}
    out = runner.invoke(app, ["validate", str(_write(tmp_path, "bad.json", bad))])
    assert out.exit_code == 2
    issues = json.loads(out.stdout)["issues"]
    assert {i["where"] for i in issues} == {"root.children[0].field", "root.children[0].op"}


def test_cli_preview_json_and_table(
    tmp_path: Path, cli_env: None, bank: dict[str, pa.Table], bank_wh: Warehouse
) -> None:
    runner = CliRunner()
    file = _write(tmp_path, "seg.json", DOC)
    out = runner.invoke(
        app, ["preview", str(file), "--as-of", "2025-06-29", "--sample", "3", "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert body["count"] == len(_members(bank, bank_wh, None))
    assert len(body["sample"]) == 3
    table = runner.invoke(app, ["preview", str(file), "--scope", "/HO/B01/", "-f", "table"])
    assert table.exit_code == 0, table.output
    assert "count:" in table.stdout and "B01" in table.stdout


def test_cli_preview_resolves_saved_segments_next_to_the_file(
    tmp_path: Path, cli_env: None
) -> None:
    _write(tmp_path, "wealth_prospects.json", DOC)
    ref = {"name": "ref", "root": {"kind": "in_segment", "segment_id": "wealth_prospects"}}
    runner = CliRunner()
    out = runner.invoke(
        app, ["preview", str(_write(tmp_path, "ref.json", ref)), "--as-of", "2025-06-29"]
    )
    direct = runner.invoke(
        app, ["preview", str(tmp_path / "wealth_prospects.json"), "--as-of", "2025-06-29"]
    )
    assert json.loads(out.stdout)["count"] == json.loads(direct.stdout)["count"]
