"""Benchmark: funnel (4 steps, 7-day window) and 7-day retention over N events (default 100M).

The event table is built directly by DuckDB SQL (deterministic ``hash`` of the row
number, no Python per row) in a temporary DuckDB file, opened through the Warehouse
adapter, and each analysis document runs through the normal compiler
(``run_analysis``). The same result is computed by hand-written DuckDB SQL on the same
file; both answers are compared and the time ratio reported. Prints one JSON object.

    .venv/bin/python -m bench analyses [--events 100000000] [--customers 1000000]
"""

from __future__ import annotations

import argparse
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

import duckdb

from opsloop.access.principal import LOCAL_OPERATOR
from opsloop.monitor.analyses import run_analysis, validate_analysis
from opsloop.warehouse import Warehouse

STEPS = ["app_open", "product_browse", "fund_detail_view", "fund_purchase"]
FUNNEL = {
    "kind": "funnel",
    "steps": [{"event": s} for s in STEPS],
    "window_days": 7,
    "order": "loose",
    "start": "2024-01-01",
    "end": "2024-01-31",
}
RETENTION = {
    "kind": "retention",
    "initial": {"event": "login"},
    "returning": {"event": "login"},
    "unit": "day",
    "periods": 7,
    "start": "2024-01-01",
    "end": "2024-01-31",
}

# Event mix (per mille): app_open 400, product_browse 250, fund_detail_view 150,
# fund_purchase 50, login 150; timestamps over 90 days from 2024-01-01 (see --order).
BUILD_SQL = """
create table events as
select 'm' || i::varchar as message_id,
  timestamp '2024-01-01' + to_microseconds({ts_expr}) as ts,
  case when r < 400 then 'app_open' when r < 650 then 'product_browse'
       when r < 800 then 'fund_detail_view' when r < 850 then 'fund_purchase'
       else 'login' end as event,
  (hash(i, {seed}, 1) % {customers})::bigint as customer_id,
  null::varchar as anonymous_id, 'ios' as platform, null::varchar as properties
from (select i, hash(i, {seed}, 3) % 1000 as r from range({events}) t(i))
"""
SPAN_US = 90 * 86_400_000_000  # 90 days
# ts order: row i at its share of the 90 days plus up to a minute of jitter — the order an
# append-only event log has, without sorting 100M rows; random: uniform over the 90 days.
TS_ORDERED = "(i::hugeint * {span} // {events} + hash(i, {seed}, 2) % 60000000)::bigint"
TS_RANDOM = "(hash(i, {seed}, 2) % {span})::bigint"
CUSTOMERS_SQL = """
create table customers as
select i::bigint as customer_id, 'o1' as org_id, '/bank/o1' as org_path, null::varchar as rm_id
from range({customers}) t(i)
"""

# The same definitions as the compiler's docstrings, written by hand.
HAND_FUNNEL = """
with e as (
  select customer_id c, ts, event from events
  where event in ('app_open','product_browse','fund_detail_view','fund_purchase')
    and ts >= timestamp '2024-01-01' and ts < timestamp '2024-02-08'),
s0 as (select c, min(ts) t0 from e where event = 'app_open' and ts < timestamp '2024-02-01'
       group by c),
s1 as (select s0.c, s0.t0, min(e.ts) t1 from s0 join e on e.c = s0.c
       and e.event = 'product_browse' and e.ts > s0.t0 and e.ts <= s0.t0 + interval 7 day
       group by all),
s2 as (select s1.c, s1.t0, min(e.ts) t2 from s1 join e on e.c = s1.c
       and e.event = 'fund_detail_view' and e.ts > s1.t1 and e.ts <= s1.t0 + interval 7 day
       group by all),
s3 as (select s2.c, s2.t0, min(e.ts) t3 from s2 join e on e.c = s2.c
       and e.event = 'fund_purchase' and e.ts > s2.t2 and e.ts <= s2.t0 + interval 7 day
       group by all)
select (select count(*) from s0) n0, (select count(*) from s1) n1,
       (select count(*) from s2) n2, (select count(*) from s3) n3,
       (select median(epoch_us(t3 - t0) / 1e6) from s3) median_seconds
"""
HAND_RETENTION = """
with l as (select customer_id c, ts from events
           where event = 'login' and ts >= timestamp '2024-01-01'
             and ts < timestamp '2024-02-09'),
i as (select c, min(ts)::date cohort from l where ts < timestamp '2024-02-01' group by c),
d as (select distinct c, ts::date d from l)
select i.cohort, (d.d - i.cohort) n, count(*) users
from i join d on d.c = i.c and d.d >= i.cohort and d.d <= i.cohort + 7
group by all order by 1, 2
"""


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, list[float], Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, out


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


SMALL = ["--events", "200000", "--customers", "5000", "--repeat", "1"]


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--order",
        choices=["ts", "random"],
        default="ts",
        help="ts: rows stored in time order, as an append-only event log is; random: shuffled",
    )
    parser.add_argument("--dir", default=None, help="where the temporary DuckDB file goes")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="opsloop-bench-", dir=args.dir))
    path = tmp / "events.duckdb"
    try:
        t0 = time.perf_counter()
        con = duckdb.connect(str(path))
        con.execute(f"set preserve_insertion_order = {args.order == 'ts'}")
        ts_expr = (TS_ORDERED if args.order == "ts" else TS_RANDOM).format(
            span=SPAN_US, events=args.events, seed=args.seed
        )
        sql = BUILD_SQL.format(
            seed=args.seed, customers=args.customers, events=args.events, ts_expr=ts_expr
        )
        con.execute(sql)
        con.execute(CUSTOMERS_SQL.format(customers=args.customers))
        con.close()
        build_s = time.perf_counter() - t0
        size_gb = path.stat().st_size / 1e9

        wh = Warehouse.open(str(path), read_only=True)
        funnel_doc = validate_analysis({"analysis": FUNNEL})
        retention_doc = validate_analysis({"analysis": RETENTION})

        def ours(doc: Any) -> Callable[[], Any]:
            return lambda: run_analysis(wh=wh, doc=doc, principal=LOCAL_OPERATOR)

        def hand(sql: str) -> Callable[[], Any]:
            def run() -> Any:
                with wh.lock:
                    return wh.con.raw_sql(sql).fetchall()  # type: ignore[attr-defined]

            return run

        out: dict[str, Any] = {
            "benchmark": "monitor.analyses",
            "events": args.events,
            "customers": args.customers,
            "cpus": os.cpu_count(),
            "build_s": round(build_s, 1),
            "file_gb": round(size_gb, 2),
            "repeat": args.repeat,
            "row_order": args.order,
            "goal_s": 5.0,
        }
        for name, doc, sql in (
            ("funnel", funnel_doc, HAND_FUNNEL),
            ("retention", retention_doc, HAND_RETENTION),
        ):
            load_before = loadavg()
            ours_s, ours_all, result = timed(ours(doc), args.repeat)
            hand_s, hand_all, rows = timed(hand(sql), args.repeat)
            out[name] = {
                "compiled_s": round(ours_s, 3),
                "compiled_runs_s": [round(x, 3) for x in ours_all],
                "hand_sql_s": round(hand_s, 3),
                "hand_sql_runs_s": [round(x, 3) for x in hand_all],
                "ratio_compiled_to_hand": round(ours_s / hand_s, 2),
                "meets_goal": ours_s <= 5.0,
                "same_answer": same(name, result, rows),
                "loadavg_before": load_before,
                "loadavg_after": loadavg(),
            }
            if name == "funnel":
                g = result["groups"][0]
                out[name]["steps"] = [s["customers"] for s in g["steps"]]
            else:
                out[name]["cohorts"] = len(result["cohorts"])
        wh.close()
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def same(name: str, result: dict[str, Any], rows: list[tuple[Any, ...]]) -> bool:
    """The compiled analysis and the hand-written SQL give the same numbers."""
    if name == "funnel":
        g = result["groups"]
        if len(g) != 1:
            return False
        n = [s["customers"] for s in g[0]["steps"]]
        (h,) = rows
        med = g[0]["median_seconds"]
        return n == list(h[:4]) and abs(med - h[4]) <= 1e-6 * max(1.0, abs(h[4]))
    got = {(c["cohort"], k): v for c in result["cohorts"] for k, v in enumerate(c["retained"]) if v}
    want = {(str(r[0]), int(r[1])): int(r[2]) for r in rows}
    return got == want


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
