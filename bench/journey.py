"""Benchmark: an audience's first pass through a journey, end to end, into the store.

entry → condition split (income ≥ 10k, compiled by the segment compiler and run in
DuckDB) → A/B split (45/45, 10 % holdout) → frequency cap (SQL guarded upserts) → send
SMS (consent, DND, global caps: SQL counters, outbox rows) → wait-for-event (durable
timers). Customers are generated with numpy into an in-memory DuckDB warehouse; the
operational store is SQLite (the embedded default) in a temporary directory unless
``--db`` names another. Prints one JSON object with per-node seconds and rows/s.

    .venv/bin/python bench/journey.py [--customers 1000000] [--chunk 200000] [--db URL]
        [--sink recording|reach]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from opsloop.store import Store
from opsloop.strategy import executor
from opsloop.strategy.data import WarehouseData
from opsloop.strategy.executor import Ports, RunContext, enter
from opsloop.strategy.journey import validate_journey
from opsloop.strategy.policy import CapRule, ContactPolicy, SqlContactCounters
from opsloop.strategy.ports import RecordingChannel
from opsloop.warehouse import Warehouse
from opsloop.warehouse.schema import CUSTOMERS

SMALL = ["--customers", "20000"]
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
JOURNEY = {
    "id": "bench",
    "name": "bench",
    "nodes": [
        {"id": "entry", "kind": "api_entry", "config": {}},
        {
            "id": "condition",
            "kind": "condition",
            "config": {
                "condition": {
                    "kind": "attribute",
                    "field": "income_monthly",
                    "op": ">=",
                    "value": 10000,
                }
            },
        },
        {
            "id": "ab",
            "kind": "ab_split",
            "config": {
                "arms": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
                "holdout": 0.1,
            },
        },
        {
            "id": "cap",
            "kind": "frequency_cap",
            "config": {"max": 1, "per": {"amount": 7, "unit": "days"}},
        },
        {
            "id": "send",
            "kind": "send_message",
            "config": {"channel": "sms", "template_id": "t"},
            "on_blocked": {"action": "skip"},
        },
        {
            "id": "wait_login",
            "kind": "wait_event",
            "config": {"event": {"event": "app_login"}, "timeout": {"amount": 3, "unit": "days"}},
        },
    ],
    "edges": [
        {"from": "entry", "to": "condition"},
        {"from": "condition", "to": "ab", "branch": "yes"},
        {"from": "ab", "to": "cap", "branch": "a"},
        {"from": "ab", "to": "cap", "branch": "b"},
        {"from": "cap", "to": "send", "branch": "pass"},
        {"from": "send", "to": "wait_login"},
    ],
}


def customers(n: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for col in CUSTOMERS.columns:
        t = col.type
        if col.name == "customer_id":
            cols[col.name] = np.arange(1, n + 1, dtype=np.int64)
        elif col.name in ("org_path", "org_id"):
            cols[col.name] = np.full(
                n, "/HO/B01/" if col.name == "org_path" else "B01", dtype=object
            )
        elif col.name == "income_monthly":
            cols[col.name] = rng.uniform(2000, 50000, n)
        elif pa.types.is_boolean(t):
            cols[col.name] = rng.random(n) < (0.1 if col.name == "dnd" else 0.85)
        elif pa.types.is_date(t):
            cols[col.name] = np.full(n, np.datetime64("2020-01-01", "D"))
        elif pa.types.is_integer(t):
            cols[col.name] = rng.integers(1, 6, n).astype(np.int16)
        elif pa.types.is_floating(t):
            cols[col.name] = rng.uniform(0, 1, n)
        else:
            cols[col.name] = np.full(n, None, dtype=object)
    return pa.table({k: pa.array(v, type=CUSTOMERS.schema.field(k).type) for k, v in cols.items()})


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=200_000)
    ap.add_argument("--db", default=None)
    ap.add_argument(
        "--sink", choices=("recording", "reach"), default="recording",
        help="strategy_outbox (decisions only) or Reach's outbox (what a launch writes)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    n = args.customers
    t0 = time.perf_counter()
    wh = Warehouse.open(":memory:")
    wh.replace_tables({"customers": customers(n)})
    tmp = tempfile.mkdtemp(prefix="bench-journey-")
    store = Store.open(args.db or f"sqlite:///{tmp}/ops.db")
    setup = time.perf_counter() - t0

    node_time: dict[str, float] = defaultdict(float)
    node_rows: dict[str, int] = defaultdict(int)
    visit = executor.JourneyPass.visit

    def timed(self: executor.JourneyPass, node: Any, c: Any, idx: Any, again: bool) -> Any:
        start = time.perf_counter()
        try:
            return visit(self, node, c, idx, again)
        finally:
            node_time[node.id] += time.perf_counter() - start
            node_rows[node.id] += len(idx)

    executor.JourneyPass.visit = timed  # type: ignore[method-assign]
    rec = RecordingChannel()
    ports = Ports(rec, rec, rec, SqlContactCounters())
    if args.sink == "reach":
        from opsloop.strategy.service import live_ports

        ports = live_ports()
    policy = ContactPolicy(caps=(CapRule(channel="sms", max=2, per="week"),))
    t1 = time.perf_counter()
    c1 = time.process_time()
    res = enter(
        sessions=store.session,
        journey=validate_journey(JOURNEY),
        entry_node="entry",
        ids=np.arange(1, n + 1, dtype=np.int64),
        data=WarehouseData(wh, as_of=NOW),
        ports=ports,
        ctx=RunContext(now=NOW, entry_key="bench", policy=policy),
        chunk=args.chunk,
    )
    total = time.perf_counter() - t1
    cpu = time.process_time() - c1
    executor.JourneyPass.visit = visit  # type: ignore[method-assign]
    nodes = {
        k: {"rows": node_rows[k], "seconds": round(node_time[k], 3),
            "rows_per_s": round(node_rows[k] / node_time[k]) if node_time[k] else None}
        for k in node_time
    }  # fmt: skip
    in_nodes = sum(node_time.values())
    return {
        "customers": n,
        "store": store.engine.dialect.name,
        "sink": args.sink,
        "setup_s": round(setup, 2),
        "first_pass_s": round(total, 2),
        "customers_per_s": round(n / total),
        # CPU of this process during the pass (SQLite runs in-process): less sensitive
        # than wall time to the other jobs on a shared machine
        "first_pass_cpu_s": round(cpu, 2),
        "node_decisions_s": round(in_nodes, 2),
        "state_writes_s": round(total - in_nodes, 2),
        "entered": res.entered,
        "sent": res.stats["send"].get("sent", 0),
        "suppressed": {k: v for k, v in res.stats["send"].items() if k.startswith("suppressed")},
        "waiting": res.stats["wait_login"].get("waiting", 0),
        "nodes": nodes,
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(main(sys.argv[1:])))
