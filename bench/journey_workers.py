"""Benchmark: journey throughput with 1, 2 and 4 `opsloop worker --jobs journey-ticks`.

For each process count, on a fresh PostgreSQL database (store and warehouse) with Redis
policy counters: ``--journeys`` journeys (recurring segment entry of every customer →
SMS, skipped when capped → push) over ``--customers`` customers. The workers are
started and idle first; then every journey is launched in one transaction and the clock
runs until every customer has entered every journey. Reports customer-journeys/s, the
scaling curve, and checks every outbox row against the caps (must be 0 over). The
baseline in the same run is one process (the first entry of the curve).

    .venv/bin/python -m bench journey_workers [--customers 20000] [--journeys 16]
        [--processes 1,2,4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

SMALL = ["--customers", "500", "--journeys", "4", "--processes", "1,2"]
ADMIN = "postgresql://127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
POLICY = {
    "global_control": {"share": 0.0},
    "caps": [
        {"channel": "sms", "max": 2, "per": "week"},
        {"channel": "push", "max": 1, "per": "day"},
    ],
}
CAPS = {"sms": 2, "push": 1}
EVERYONE = {"kind": "attribute", "field": "org_path", "op": "starts_with", "value": "/HO/"}


def _doc(i: int) -> dict[str, Any]:
    return {
        "id": f"j{i:03d}",
        "name": f"journey {i}",
        "nodes": [
            {"id": "entry", "kind": "segment_entry",
             "config": {"segment": {"name": "all", "root": EVERYONE}, "schedule": "* * * * *"}},
            {"id": "sms", "kind": "send_message", "config": {"channel": "sms", "template_id": "t"},
             "on_blocked": {"action": "skip"}},
            {"id": "push", "kind": "send_message",
             "config": {"channel": "push", "template_id": "p"}},
        ],
        "edges": [{"from": "entry", "to": "sms"}, {"from": "sms", "to": "push"}],
    }  # fmt: skip


def _one(n_procs: int, customers: int, journeys: int) -> dict[str, Any]:
    import redis
    from sqlalchemy import func, select

    from opsloop.access.principal import Principal
    from opsloop.reach.models import OutboxRow
    from opsloop.store import Store
    from opsloop.strategy import service
    from opsloop.strategy.models import CustomerState
    from opsloop.strategy.policy import ContactPolicy
    from opsloop.warehouse import Warehouse
    from opsloop.warehouse.engine import postgres_url

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.journey import customers as make_customers
    from bench.journeys_200 import _fresh_pg

    maker = Principal(id="maker", kind="user", permissions=frozenset({"journey:submit"}))
    checker = Principal(id="checker", kind="user", permissions=frozenset({"journey:approve"}))
    redis.Redis.from_url(REDIS).delete(*(redis.Redis.from_url(REDIS).keys("opsloop:*") or ["x"]))
    with _fresh_pg() as sa_url, tempfile.TemporaryDirectory(prefix="bench-jw-") as tmp:
        url = postgres_url(sa_url) or sa_url
        home = Path(tmp)
        (home / "contact-policy.json").write_bytes(orjson.dumps(POLICY))
        wh = Warehouse.open(url)
        wh.replace_tables({"customers": make_customers(customers)})
        wh.close()
        store = Store.open(url)
        with store.session() as s:
            for i in range(journeys):
                service.save_journey(session=s, principal=maker, doc=_doc(i))
                for who, action in ((maker, "submit"), (checker, "approve")):
                    service.transition(
                        session=s, principal=who, journey_id=f"j{i:03d}", action=action
                    )
        env = os.environ | {
            "OPSLOOP_HOME": str(home),
            "OPSLOOP_DATABASE_URL": url,
            "OPSLOOP_WAREHOUSE": url,
            "OPSLOOP_REDIS_URL": REDIS,
            "OPSLOOP_SECRET_KEY": "b" * 40,
        }
        cmd = [sys.executable, "-m", "opsloop.cli.main", "worker", "--jobs", "journey-ticks"]
        procs = [
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            for _ in range(n_procs)
        ]
        try:
            for p in procs:  # idle and ready before the clock starts
                assert p.stdout is not None
                p.stdout.readline()
            time.sleep(2.0)
            with store.session() as s:
                for i in range(journeys):
                    jid = f"j{i:03d}"
                    service.transition(session=s, principal=maker, journey_id=jid, action="launch")
            t0 = time.perf_counter()
            target = customers * journeys
            done = 0
            while time.perf_counter() - t0 < 1800:
                time.sleep(0.1)
                with store.session() as s:
                    done = int(s.scalar(select(func.count()).select_from(CustomerState)) or 0)
                if done >= target:
                    break
            seconds = time.perf_counter() - t0
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
        policy = ContactPolicy.model_validate(POLICY)
        with store.session() as s:
            per: Counter[tuple[int, str, str]] = Counter()
            rows = s.execute(select(OutboxRow.customer_id, OutboxRow.channel, OutboxRow.created_at))
            for c, ch, at in rows:
                local = (at if at.tzinfo else at.replace(tzinfo=dt.UTC)).astimezone(policy.zone())
                y, w, _ = local.isocalendar()
                per[(int(c), ch, f"{y}-W{w}" if ch == "sms" else local.date().isoformat())] += 1
        store.close()
    return {
        "processes": n_procs,
        "customer_journeys": done,
        "complete": done >= target,
        "seconds": round(seconds, 2),
        "customer_journeys_per_s": round(done / seconds),
        "outbox_rows": sum(per.values()),
        "windows_over_cap": sum(1 for (_, ch, _), v in per.items() if v > CAPS[ch]),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--journeys", type=int, default=16)
    ap.add_argument("--processes", default="1,2,4")
    args = ap.parse_args(argv)
    runs = [_one(int(n), args.customers, args.journeys) for n in args.processes.split(",")]
    base = runs[0]["customer_journeys_per_s"]
    for r in runs:
        r["ratio_to_first"] = round(r["customer_journeys_per_s"] / base, 2)
    return {
        "benchmark": "runtime.journey_workers",
        "customers": args.customers,
        "journeys": args.journeys,
        "cpus": os.cpu_count(),
        "runs": runs,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
