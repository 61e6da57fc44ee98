"""Benchmark: 200 journeys at once against one contact policy, every outbox row counted.

200 journeys (``api_entry → sms (skip when blocked) → push``), half of them on Monday
and half on Tuesday of one week, enter the same ``--customers`` customers from
``--threads`` threads; caps: SMS 2 a week, push 1 a day. Afterwards every
``reach_outbox`` row is counted per customer × channel × cap window: the figure is the
wall time and the number of windows over their cap (must be 0). The baseline in the
same run is one journey alone over the same customers (the per-journey cost).

    .venv/bin/python bench/journeys_200.py [--customers 20000] [--pg]

``--pg`` runs on a fresh PostgreSQL database (created on 127.0.0.1:5432 and dropped
afterwards); the default is SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

SMALL = ["--customers", "500", "--journeys", "20"]
NOW = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def _doc(i: int) -> dict[str, Any]:
    return {
        "id": f"j{i:03d}",
        "name": f"journey {i}",
        "business_line": "wealth" if i % 2 else "cards",
        "nodes": [
            {"id": "entry", "kind": "api_entry", "config": {}},
            {"id": "sms", "kind": "send_message", "config": {"channel": "sms", "template_id": "t"},
             "on_blocked": {"action": "skip"}},
            {"id": "push", "kind": "send_message",
             "config": {"channel": "push", "template_id": "p"}},
        ],
        "edges": [{"from": "entry", "to": "sms"}, {"from": "sms", "to": "push"}],
    }  # fmt: skip


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--journeys", type=int, default=200)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--pg", action="store_true")
    args = ap.parse_args(argv)
    if args.pg:
        with _fresh_pg() as url:
            return _run(args, url)
    return _run(args, f"sqlite:///{tempfile.mkdtemp(prefix='bench-j200-')}/ops.db")


@contextmanager
def _fresh_pg() -> Iterator[str]:
    import psycopg

    admin = "postgresql://127.0.0.1:5432/test"
    name = f"opsloop_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    try:
        yield f"postgresql+psycopg://127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(f'drop database if exists "{name}" with (force)')


def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from opsloop.reach.models import OutboxRow
    from opsloop.store import Store
    from opsloop.strategy.data import WarehouseData
    from opsloop.strategy.executor import RunContext, enter
    from opsloop.strategy.journey import validate_journey
    from opsloop.strategy.policy import CapRule, ContactPolicy
    from opsloop.strategy.service import live_ports
    from opsloop.warehouse import Warehouse

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.journey import customers

    policy = ContactPolicy(
        caps=(CapRule(channel="sms", max=2, per="week"), CapRule(channel="push", max=1, per="day"))
    )
    caps = {"sms": 2, "push": 1}
    wh = Warehouse.open(":memory:")
    wh.replace_tables({"customers": customers(args.customers)})
    store = Store.open(url)
    ids = np.arange(1, args.customers + 1, dtype=np.int64)
    data = WarehouseData(wh, as_of=NOW)
    data.attribute("consent_sms", ids[:1])  # load the columns once, outside the timing
    data.attribute("consent_push", ids[:1])
    data.attribute("dnd", ids[:1])
    ports = live_ports()
    days = [NOW, NOW + dt.timedelta(days=1)]

    def run(i: int, key: str = "k") -> None:
        enter(
            sessions=store.session, journey=validate_journey(_doc(i)), entry_node="entry",
            ids=ids, data=data, ports=ports,
            ctx=RunContext(now=days[i % 2], entry_key=key, policy=policy),
        )  # fmt: skip

    t0 = time.perf_counter()
    run(999, "alone")  # baseline: one journey alone (it also takes its share of the caps)
    alone = time.perf_counter() - t0
    t1 = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(run, range(args.journeys)))
    together = time.perf_counter() - t1
    with store.session() as s:
        rows = s.execute(select(OutboxRow.customer_id, OutboxRow.channel, OutboxRow.created_at))
        per: Counter[tuple[int, str, str]] = Counter()
        for c, ch, at in rows:
            local = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(policy.zone())
            y, w, _ = local.isocalendar()
            per[(int(c), ch, f"{y}-W{w}" if ch == "sms" else local.date().isoformat())] += 1
    over = sum(1 for (_, ch, _), v in per.items() if v > caps[ch])
    out = {
        "journeys": args.journeys,
        "customers": args.customers,
        "threads": args.threads,
        "store": store.engine.dialect.name,
        "seconds": round(together, 2),
        "customer_journeys_per_s": round(args.journeys * args.customers / together),
        "baseline_one_journey_s": round(alone, 2),
        "ratio_vs_alone_times_journeys": round(together / (alone * args.journeys), 2),
        "outbox_rows": sum(per.values()),
        "windows": len(per),
        "windows_over_cap": over,
        "max_per_window": {ch: max((v for k, v in per.items() if k[1] == ch), default=0)
                           for ch in caps},
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }  # fmt: skip
    store.close()
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(main(sys.argv[1:])))
