"""Benchmark: the same segment preview and funnel on DuckDB and on Spark (local mode).

The tables (``bench.segment_preview.build``: customers and events) are loaded into an
in-memory DuckDB and into a Spark lake (Parquet) through ``Warehouse.replace_tables``;
then the segment count (3 attribute + 1 behavioural condition over 30 days) and a
4-step, 7-day funnel run through opsloop's normal compilers on both. Warm: one warm-up,
then the median of ``--repeat`` runs; the answers are compared. Prints one JSON object.

    .venv/bin/python -m bench spark_vs_duckdb --customers 200000 --per-customer 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

from bench.segment_preview import AS_OF, END, build
from opsloop.access.principal import Principal
from opsloop.insight.segments import preview, validate_segment
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.warehouse import Warehouse

SMALL = ["--customers", "5000", "--per-customer", "5", "--repeat", "1"]
BANK = Principal(id="bench", kind="user", org_path="/HO/")
SEGMENT = {
    "name": "bench",
    "root": {
        "kind": "and",
        "children": [
            {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 3},
            {"kind": "attribute", "field": "income_monthly", "op": ">", "value": 8000},
            {"kind": "attribute", "field": "consent_sms", "op": "=", "value": True},
            {
                "kind": "behaviour",
                "step": {"event": "fund_detail_view"},
                "op": ">=",
                "count": 3,
                "last_days": 30,
            },
        ],
    },
}
FUNNEL = {
    "analysis": {
        "kind": "funnel",
        "steps": [
            {"event": "app_open"},
            {"event": "login"},
            {"event": "fund_detail_view"},
            {"event": "fund_purchase"},
        ],
        "window_days": 7,
        "order": "loose",
        "start": (END.date().replace(day=1)).isoformat(),
        "end": END.date().isoformat(),
    }
}


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    fn()  # warm-up
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--per-customer", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--master", default="local-2")
    args = parser.parse_args(argv)

    tables = build(args.customers, args.per_customer)
    lake = tempfile.mkdtemp(prefix="opsloop-lake-")
    duck = Warehouse.open(":memory:")
    duck.replace_tables(tables)
    t0 = time.perf_counter()
    spark = Warehouse.open(f"spark://{args.master}?lake={lake}")
    spark_start = time.perf_counter() - t0
    t0 = time.perf_counter()
    spark.replace_tables(tables)
    spark_load = time.perf_counter() - t0
    defn = validate_segment(SEGMENT)
    funnel = validate_analysis(FUNNEL)
    out: dict[str, Any] = {
        "customers": args.customers,
        "events": tables["events"].num_rows,
        "master": args.master,
        "spark_session_start_s": round(spark_start, 2),
        "spark_load_s": round(spark_load, 2),
        "loadavg": os.getloadavg()[0],
    }
    for name, wh in (("duckdb", duck), ("spark", spark)):
        seg_s, seg = timed(
            lambda wh=wh: preview(wh=wh, defn=defn, as_of=AS_OF, principal=BANK).count,
            args.repeat,
        )
        fun_s, fun = timed(
            lambda wh=wh: run_analysis(wh=wh, doc=funnel, principal=BANK), args.repeat
        )
        out[name] = {
            "segment_s": round(seg_s, 3),
            "segment_count": seg,
            "funnel_s": round(fun_s, 3),
        }
        out[f"{name}_funnel"] = fun
    out["same_segment"] = out["duckdb"]["segment_count"] == out["spark"]["segment_count"]
    out["same_funnel"] = out.pop("duckdb_funnel") == out.pop("spark_funnel")
    out["ratio_spark_to_duckdb"] = {
        k: round(out["spark"][k] / max(out["duckdb"][k], 1e-9), 1)
        for k in ("segment_s", "funnel_s")
    }
    spark.close()
    duck.close()
    return out
