"""Benchmark: a segment count — 3 attribute conditions, 1 tag condition and 1 behavioural
condition over 30 days of events.

Compares the compiled Ibis expression with the same query hand-written in DuckDB SQL on
the same warehouse, and checks both give the same count. Warm: one warm-up run of each,
then the median of ``--repeat`` runs. Prints one JSON object.

Two sources: ``--warehouse FILE`` (a generated bank, e.g. 10,000,000 customers from
``opsloop generate``, attached read-only — nothing is written to it: ``customers`` and
``events`` are views of it in a scratch DuckDB file, which holds the tag computed
set-wise into its ``tag_values``), or an in-memory synthetic table set of
``--customers`` (at most 1,000,000).

    .venv/bin/python -m bench segment_preview --warehouse /tmp/bench-10m/warehouse.duckdb
    .venv/bin/python -m bench segment_preview --customers 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from opsloop.insight.segments import compile_segment, preview, validate_segment
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import CUSTOMERS, EVENTS

SMALL = ["--customers", "20000", "--repeat", "1"]
TAG = "bench.app_open_90d"
AS_OF = dt.date(2025, 6, 29)
END = dt.datetime(2025, 6, 30)
EVENT_NAMES = ["app_open", "fund_detail_view", "fund_purchase", "login"]
DOC = {
    "name": "bench",
    "root": {
        "kind": "and",
        "children": [
            {"kind": "attribute", "field": "kyc_risk_level", "op": ">=", "value": 3},
            {"kind": "attribute", "field": "income_monthly", "op": ">", "value": 8000},
            {"kind": "attribute", "field": "consent_sms", "op": "=", "value": True},
            {"kind": "tag", "tag": TAG, "op": ">=", "value": 3},
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
HAND_SQL = """
select count(*) as n from customers c
where c.kyc_risk_level >= 3 and c.income_monthly > 8000 and c.consent_sms
  and c.customer_id in (
    select customer_id from tag_values
    where tag = '{tag}' and value_num >= 3
      and as_of = (select max(as_of) from tag_values where tag = '{tag}' and as_of <= date '{day}'))
  and c.customer_id in (
    select customer_id from events
    where event = 'fund_detail_view'
      and ts >= timestamp '{start}' and ts < timestamp '{end}'
    group by customer_id having count(*) >= 3)
"""


def _strings(rng: np.random.Generator, choices: list[str], n: int) -> pa.Array:
    codes = pa.array(rng.integers(0, len(choices), n).astype(np.int32))
    return pa.DictionaryArray.from_arrays(codes, pa.array(choices)).cast(pa.string())


def build(customers: int, per_customer: int, seed: int = 5) -> dict[str, pa.Table]:
    rng = np.random.default_rng(seed)
    n = customers
    orgs = [f"B{b:02d}S{s:02d}" for b in range(1, 21) for s in range(1, 6)]
    org = _strings(rng, orgs, n)
    cols: dict[str, pa.Array] = {c.name: pa.nulls(n, c.type) for c in CUSTOMERS.columns}
    cols |= {
        "customer_id": pa.array(np.arange(1, n + 1, dtype=np.int64)),
        "org_id": org,
        "org_path": pc.binary_join_element_wise(
            "/HO/", pc.utf8_slice_codeunits(org, 0, 3), "/", org, "/", ""
        ),
        "kyc_risk_level": pa.array(rng.integers(1, 6, n).astype(np.int16)),
        "income_monthly": pa.array(rng.lognormal(9, 0.8, n).round(2)),
        "opened_on": pa.array(np.full(n, 18000, dtype=np.int32)).cast(pa.date32()),
    }
    for flag in ("is_active", "consent_sms", "consent_push", "consent_email"):
        cols[flag] = pa.array(rng.random(n) > 0.3)
    for flag in ("consent_wechat", "consent_call", "dnd"):
        cols[flag] = pa.array(rng.random(n) > 0.8)
    k = n * per_customer
    end_us = int(END.timestamp() * 1_000_000)
    offsets = rng.integers(0, 35 * 86_400_000_000, k, dtype=np.int64)
    events = {
        "message_id": pc.cast(pa.array(np.arange(k, dtype=np.int64)), pa.string()),
        "ts": pa.array(end_us - offsets).cast(pa.timestamp("us")),
        "event": _strings(rng, EVENT_NAMES, k),
        "customer_id": pa.array(rng.integers(1, n + 1, k, dtype=np.int64)),
        "anonymous_id": pa.nulls(k, pa.string()),
        "platform": _strings(rng, ["ios", "android"], k),
        "properties": pa.nulls(k, pa.string()),
    }
    return {
        "customers": pa.table(cols).select(list(CUSTOMERS.column_names)),
        "events": pa.table(events).select(list(EVENTS.column_names)),
    }


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def add_tag(wh: Warehouse, as_of: dt.date) -> float:
    """The bench's statistic tag, set-wise in the engine: app opens in the last 90 days.

    One ``CREATE TABLE … AS SELECT`` (the same shape a tag run writes: one row per
    customer with a value, stamped ``as_of``); skipped when that run is already there.
    """
    if "tag_values" in wh.tables():
        tv = wh.table("tag_values")
        have = wh.execute(tv.filter(tv.tag == TAG, tv.as_of == as_of).count().as_table())
        if have.column(0)[0].as_py():
            return 0.0
    t0 = time.perf_counter()
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    e = wh.table("events")
    e = e.filter(
        e.event == "app_open",
        e.customer_id.notnull(),
        e.ts >= ibis.literal(end - dt.timedelta(days=90), "timestamp"),
        e.ts < ibis.literal(end, "timestamp"),
    )
    per = e.group_by("customer_id").aggregate(n=e.count())
    rows = per.select(
        tag=ibis.literal(TAG, "string"),
        customer_id=per.customer_id,
        value_bool=ibis.null("boolean"),
        value_num=per.n.cast("float64"),
        value_str=ibis.null("string"),
        as_of=ibis.literal(as_of, "date"),
    )
    with wh.lock:
        wh.con.create_table("tag_values", rows, overwrite=True)  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", default=None, help="a generated bank's DuckDB file")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--events-per-customer", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--preview-repeat",
        type=int,
        default=None,
        help="runs of the full preview (default: --repeat)",
    )
    parser.add_argument(
        "--sort-events",
        action="store_true",
        help="copy the bank's events into the scratch file ordered by time (zone maps on ts)",
    )
    args = parser.parse_args(argv)
    load_before = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]

    gen_s = load_s = 0.0
    if args.warehouse:
        from opsloop.insight.segments.service import data_as_of

        scratch = Path(tempfile.mkdtemp(prefix="opsloop-bench-preview-"))
        wh = Warehouse.open(str(scratch / "scratch.duckdb"))
        con = wh.con.con  # type: ignore[attr-defined]
        con.execute(f"attach '{args.warehouse}' as src (read_only)")
        for name in ("customers", "events", "transactions"):
            if name == "events" and args.sort_events:  # what time-ordered storage would give
                t0 = time.perf_counter()
                con.execute("create table events as select * from src.main.events order by ts")
                load_s = time.perf_counter() - t0
                continue
            con.execute(f"create view {name} as select * from src.main.{name}")
        as_of = data_as_of(wh=wh)
    else:
        if args.customers > 1_000_000:
            raise SystemExit("at most 1,000,000 in-memory customers; use --warehouse for more")
        t0 = time.perf_counter()
        tables = build(args.customers, args.events_per_customer)
        gen_s = time.perf_counter() - t0
        wh = Warehouse.open(":memory:")
        t0 = time.perf_counter()
        wh.replace_tables(tables)
        load_s = time.perf_counter() - t0
        del tables
        as_of = AS_OF
    tag_s = add_tag(wh, as_of)
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time())
    hand_sql = HAND_SQL.format(tag=TAG, day=as_of, start=end - dt.timedelta(days=30), end=end)
    n_customers = int(wh.sql("select count(*) from customers").column(0)[0].as_py())
    events = int(wh.sql("select count(*) from events").column(0)[0].as_py())
    defn = validate_segment(DOC)
    wh_tables = {n: wh.table(n) for n in ("customers", "events", "tag_values")}

    def ours() -> int:
        expr = compile_segment(defn, wh_tables=wh_tables, as_of=as_of).count()
        return int(wh.execute(expr.as_table()).column(0)[0].as_py())

    def hand() -> int:
        return int(wh.sql(hand_sql).column(0)[0].as_py())

    def full_preview() -> int:
        return preview(wh=wh, defn=defn, as_of=as_of, sample=20).count

    def compile_only() -> str:
        expr = compile_segment(defn, wh_tables=wh_tables, as_of=as_of).count()
        return str(ibis.to_sql(expr, dialect="duckdb"))

    ours(), hand()  # warm up
    compile_s, _ = timed(compile_only, args.repeat)
    ours_s, ours_n = timed(ours, args.repeat)
    hand_s, hand_n = timed(hand, args.repeat)
    preview_s, preview_n = timed(full_preview, args.preview_repeat or args.repeat)
    parts = {}
    for i, child in enumerate(DOC["root"]["children"]):  # type: ignore[index]
        alone = validate_segment({"name": f"part{i}", "root": child})

        def part(alone: Any = alone) -> int:
            expr = compile_segment(alone, wh_tables=wh_tables, as_of=as_of).count()
            return int(wh.execute(expr.as_table()).column(0)[0].as_py())

        parts[child["kind"] + (f":{child['field']}" if "field" in child else "")] = round(
            timed(part, args.repeat)[0], 4
        )
    wh.close()
    if args.warehouse:
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "benchmark": "insight.segment_preview",
        "source": args.warehouse or "in-memory synthetic",
        "events_sorted_by_ts": bool(args.sort_events),
        "customers": n_customers,
        "events": events,
        "as_of": str(as_of),
        "cpus": os.cpu_count(),
        "generate_s": round(gen_s, 3),
        "load_s": round(load_s, 3),
        "tag_compute_s": round(tag_s, 3),
        "segment_count_s": round(ours_s, 4),
        "of_which_compile_s": round(compile_s, 4),
        "hand_sql_count_s": round(hand_s, 4),
        "ratio_segment_vs_hand": round(ours_s / hand_s, 3),
        "full_preview_s": round(preview_s, 4),
        "each_condition_alone_s": parts,
        "count": ours_n,
        "same_count": ours_n == hand_n == preview_n,
        "repeat": args.repeat,
        "preview_repeat": args.preview_repeat or args.repeat,
        "loadavg_before": load_before,
        "loadavg_after": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
