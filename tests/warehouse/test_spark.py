"""The same segment and analysis documents on DuckDB and on Spark (local mode) agree.

Spark runs in local mode in this process (Java is on the machine); the lake is a temp
folder of Parquet written by ``Warehouse.replace_tables`` — what a cluster would read.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from insight.conftest import END, make_bank
from opsloop.access.principal import Principal
from opsloop.insight.segments import SegmentDefinition, compile_members
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.warehouse import Warehouse

pytestmark = pytest.mark.slow
BANK = Principal(id="hq", kind="user", org_path="/HO/")
BRANCH = Principal(id="b1", kind="user", org_path="/HO/B01/")
AS_OF = END.date()


def _need_java() -> None:
    if shutil.which("java") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Java is required for the Spark tests under CI=true")
        pytest.skip("Java is not installed: Spark cannot run")
    pytest.importorskip("pyspark", reason="pyspark (test extra) is not installed")


@pytest.fixture(scope="module")
def bank() -> dict[str, pa.Table]:
    return make_bank(n=300, seed=5)


@pytest.fixture(scope="module")
def duck(bank: dict[str, pa.Table]) -> Iterator[Warehouse]:
    wh = Warehouse.open(":memory:")
    wh.replace_tables(bank)
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def spark(
    bank: dict[str, pa.Table], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    _need_java()
    lake = tmp_path_factory.mktemp("lake")
    wh = Warehouse.open(f"spark://local-2?lake={lake}")
    wh.replace_tables(bank)
    yield wh
    wh.close()


def _attr(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"kind": "attribute", "field": field, "op": op, "value": value}


SEGMENTS: list[dict[str, Any]] = [
    _attr("kyc_risk_level", ">=", 3),
    {
        "kind": "and",
        "children": [_attr("city", "in", ["北京", "上海"]), _attr("is_active", "=", True)],
    },
    {
        "kind": "txn_aggregate",
        "agg": "sum",
        "where": {"direction": "out"},
        "last_days": 30,
        "op": ">",
        "value": 5000,
    },
    {
        "kind": "behaviour",
        "step": {"event": "fund_detail_view"},
        "op": ">=",
        "count": 2,
        "last_days": 7,
    },
    {
        "kind": "or",
        "children": [
            {"kind": "not", "child": _attr("dnd", "=", True)},
            {
                "kind": "behaviour",
                "step": {"event": "login"},
                "op": ">=",
                "count": 1,
                "last_days": 3,
            },
        ],
    },
]


def _members(wh: Warehouse, root: dict[str, Any], who: Principal) -> list[int]:
    defn = SegmentDefinition.model_validate({"id": "s", "name": "s", "root": root})
    tables = {n: wh.table(n) for n in ("customers", "transactions", "events")}
    expr = compile_members(defn, wh_tables=tables, as_of=AS_OF, principal=who)
    ids = wh.execute(expr.select("customer_id"))["customer_id"].to_pylist()
    return sorted(int(i) for i in ids)


@pytest.mark.parametrize("root", SEGMENTS, ids=[s["kind"] for s in SEGMENTS])
@pytest.mark.parametrize("who", [BANK, BRANCH], ids=["bank", "branch"])
def test_segments_agree(
    duck: Warehouse, spark: Warehouse, root: dict[str, Any], who: Principal
) -> None:
    on_duck = _members(duck, root, who)
    assert on_duck, "a segment with no members would prove nothing"
    assert _members(spark, root, who) == on_duck


START, STOP = (END - dt.timedelta(days=30)).date().isoformat(), END.date().isoformat()
ANALYSES: list[dict[str, Any]] = [
    {
        "kind": "event",
        "event": {"event": "login"},
        "measure": "uniques",
        "interval": "day",
        "start": START,
        "end": STOP,
    },
    {
        "kind": "funnel",
        "steps": [{"event": "app_open"}, {"event": "fund_detail_view"}, {"event": "fund_purchase"}],
        "window_days": 7,
        "order": "loose",
        "start": START,
        "end": STOP,
    },
    {
        "kind": "retention",
        "initial": {"event": "login"},
        "returning": {"event": "app_open"},
        "unit": "day",
        "periods": 7,
        "start": START,
        "end": STOP,
    },
]


def _normalise(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in value.items() if k != "elapsed_ms"}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


@pytest.mark.parametrize("doc", ANALYSES, ids=[a["kind"] for a in ANALYSES])
def test_analyses_agree(duck: Warehouse, spark: Warehouse, doc: dict[str, Any]) -> None:
    parsed = validate_analysis({"analysis": doc})
    on_duck = _normalise(run_analysis(wh=duck, doc=parsed, principal=BANK))
    on_spark = _normalise(run_analysis(wh=spark, doc=parsed, principal=BANK))
    assert on_duck == on_spark


def test_spark_lake_replace_is_atomic_and_readable_by_duckdb(
    spark: Warehouse, bank: dict[str, pa.Table]
) -> None:
    lake = Path(spark.url.split("lake=", 1)[1])
    manifest = (lake / "default" / "_manifest.json").read_text()
    assert "customers@" in manifest
    assert spark.datasets() == ["default"]
    before = spark.execute(spark.table("customers").count()).as_py()
    small = bank["customers"].slice(0, 10)
    spark.replace_tables({"customers": small})
    assert spark.execute(spark.table("customers").count()).as_py() == 10 != before
    # Any engine can read what opsloop wrote: DuckDB reads the current Parquet version.
    import json

    version = json.loads((lake / "default" / "_manifest.json").read_text())["customers"]
    import pyarrow.parquet as pq

    assert pq.read_table(lake / "default" / version).num_rows == 10
    spark.replace_tables({"customers": bank["customers"]})  # restore for other tests


def test_collection_flusher_appends_events_to_the_lake_once(
    spark: Warehouse, tmp_path: Path
) -> None:
    """Streamed events land in the lake as whole Parquet parts; redelivery adds nothing."""
    import duckdb
    import orjson

    from opsloop.collect.flush import flush_records
    from opsloop.collect.log import EventLog
    from opsloop.store import Store

    lake = Path(spark.url.split("lake=", 1)[1])
    before = spark.execute(spark.table("events").count()).as_py()
    store = Store.open(f"sqlite:///{tmp_path / 'ops.db'}")
    msgs = [
        {"type": "track", "userId": str(100 + i % 7), "event": "lake_test",
         "messageId": f"lake-{i}", "timestamp": "2025-01-01T00:00:00.000Z"}
        for i in range(40)
    ]  # fmt: skip
    try:
        with EventLog(tmp_path / "events") as log:
            log.append([(m["messageId"], orjson.dumps(m)) for m in msgs])
            recs = log.read(0, 100)
            assert flush_records(recs[:25], store=store, warehouse=spark) == 25
            assert flush_records(recs, store=store, warehouse=spark) == 15  # 25 redelivered
            assert flush_records(recs, store=store, warehouse=spark) == 0
    finally:
        store.close()
    events = spark.table("events")
    assert spark.execute(events.count()).as_py() == before + 40
    ours = events.filter(events.event == "lake_test")
    assert spark.execute(ours.count()).as_py() == 40
    assert spark.execute(ours.customer_id.nunique()).as_py() == 7
    # Another engine reads the same files: DuckDB over the current version's parts.
    import json

    version = json.loads((lake / "default" / "_manifest.json").read_text())["events"]
    folder = lake / "default" / version
    assert not list(folder.glob(".*")), "no half-written part is left behind"
    n = duckdb.sql(
        f"select count(*) from read_parquet('{folder}/*.parquet') where event = 'lake_test'"
    ).fetchone()
    assert n == (40,)
