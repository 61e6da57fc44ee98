"""Coupon grab (抢券): many customers hammer one coupon drop over loopback.

A real uvicorn server (PostgreSQL store; Redis counters and windows with ``--redis``)
and a load generator of several processes, each running asyncio clients. After the
run the ledger is checked: exactly ``--coupons`` issued, nobody above the per-customer
limit, the budget not exceeded, counters reconciled with the ledger.
Run: ``.venv/bin/python -m bench coupon_grab --coupons 10000 --requests 200000 --redis``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, select

from opsloop.access import credentials, users
from opsloop.access.principal import Principal
from opsloop.access.schemas import TokenCreate, UserCreate
from opsloop.activity import ledger, service
from opsloop.activity.counters import RedisCounters, SqlCounters
from opsloop.activity.models import BenefitUnit
from opsloop.store import Store

PG = os.environ.get("OPSLOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = "redis://127.0.0.1:6379/14"
SMALL = ["--coupons", "200", "--requests", "4000", "--customers", "1000"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(url: str, coupons: int) -> tuple[str, str]:
    store = Store.open(url)
    ops = Principal("bench-maker", "user", permissions=frozenset({"*"}))
    chk = Principal("bench-checker", "user", permissions=frozenset({"*"}))
    service.create_benefit(
        store=store,
        actor=ops,
        doc={
            "id": "grab10",
            "name": "满100减10",
            "value": {"kind": "coupon_fixed", "amount_cents": 1000, "threshold_cents": 10000},
            "limits": {
                "total_stock": coupons,
                "per_customer_lifetime": 1,
                "budget_cents": coupons * 1000,
            },
            "validity": {"days": 7},
        },
    )
    act = service.create_activity(
        store=store,
        actor=ops,
        doc={
            "name": "秒杀",
            "template": {"kind": "coupon_drop", "benefit_id": "grab10"},
            "starts_at": "2020-01-01T00:00:00Z",
            "ends_at": "2099-01-01T00:00:00Z",
            "landing": {"title": "抢券"},
            "risk": {
                "per_customer_per_minute": 1000,
                "per_ip_per_minute": 10**9,
                "per_device_per_hour": 1000,
            },
        },
    )
    for who, action in ((ops, "submit"), (chk, "approve"), (ops, "start")):
        service.transition(store=store, actor=who, activity_id=act["id"], action=action)
    with store.session() as s:
        users.create_user(
            session=s,
            actor=ops,
            body=UserCreate(
                username="appsys", password="Correct-Horse-42!", org_id="HO", roles=["admin"]
            ),
        )
        tok = credentials.create_token(
            session=s,
            actor=ops,
            body=TokenCreate(name="app", username="appsys", scopes=["activity:participate"]),
        )
    store.close()
    return act["id"], tok.token


def _load(args: tuple[str, str, str, int, int, int, int]) -> list[tuple[float, int, str]]:
    base, aid, token, n, customers, conc, seed = args

    async def run() -> list[tuple[float, int, str]]:
        rng = random.Random(seed)
        out: list[tuple[float, int, str]] = []
        headers = {"Authorization": f"Bearer {token}"}
        limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
        async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as c:
            left = [n]

            async def worker() -> None:
                while left[0] > 0:
                    left[0] -= 1
                    cid = rng.randrange(1, customers + 1)
                    body = {"customer_id": cid, "device_id": f"d{cid}", "ip": "10.0.0.1"}
                    t = time.perf_counter()
                    r = await c.post(f"/api/v1/activities/{aid}/participate", json=body)
                    dt = time.perf_counter() - t
                    out.append(
                        (
                            dt,
                            r.status_code,
                            r.json().get("outcome", "") if r.status_code == 200 else "",
                        )
                    )

            await asyncio.gather(*(worker() for _ in range(conc)))
        return out

    return asyncio.run(run())


def main(argv: list[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--coupons", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=200_000)
    p.add_argument("--customers", type=int, default=50_000)
    p.add_argument("--procs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--redis", action="store_true")
    a = p.parse_args(argv)
    dbname = f"opsloop_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG, autocommit=True) as con:
        con.execute(f'create database "{dbname}"')
    url = PG.rsplit("/", 1)[0] + "/" + dbname
    home = Path(tempfile.mkdtemp(prefix="opsloop-grab-"))
    env = os.environ | {
        "OPSLOOP_HOME": str(home),
        "OPSLOOP_WAREHOUSE": url,
        "OPSLOOP_DATABASE_URL": url,
        "OPSLOOP_SECRET_KEY": "bench-secret-key-0123456789-0123456789",
        "OPSLOOP_RATE_PER_MINUTE": "1e12",
        "OPSLOOP_RATE_BURST": "1000000000",
        "OPSLOOP_LOG_LEVEL": "WARNING",
    }
    env.pop("OPSLOOP_REDIS_URL", None)
    if a.redis:
        import redis

        redis.Redis.from_url(REDIS).flushdb()
        env["OPSLOOP_REDIS_URL"] = REDIS
    os.environ.update({k: v for k, v in env.items() if k.startswith("OPSLOOP_")})
    server = None
    try:
        aid, token = _setup(url, a.coupons)
        port = _port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "opsloop.api.app:create_app",
                "--factory",
                "--port",
                str(port),
                "--workers",
                str(a.workers),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(base + "/api/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        per = a.requests // a.procs
        jobs = [(base, aid, token, per, a.customers, a.concurrency, i) for i in range(a.procs)]
        t0 = time.perf_counter()
        with mp.get_context("spawn").Pool(a.procs) as pool:
            results = [r for part in pool.map(_load, jobs) for r in part]
        wall = time.perf_counter() - t0
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    lat = sorted(r[0] for r in results)
    outcomes: dict[str, int] = {}
    for _, code, outcome in results:
        k = outcome or str(code)
        outcomes[k] = outcomes.get(k, 0) + 1
    store = Store.open(url, migrate=False)
    with store.session() as s:
        bal = ledger.balances(s, benefit_id="grab10")
        top = s.execute(
            select(func.count())
            .select_from(BenefitUnit)
            .group_by(BenefitUnit.customer_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar()
        counters = RedisCounters(REDIS, ledger.derived_counters) if a.redis else SqlCounters()
        drift = ledger.reconcile(s, counters=counters, scope="b/grab10")
    store.close()
    with psycopg.connect(PG, autocommit=True) as con:
        con.execute(f'drop database if exists "{dbname}" with (force)')
    return {
        "path": "redis" if a.redis else "sql",
        "coupons": a.coupons,
        "requests": len(results),
        "customers": a.customers,
        "server_workers": a.workers,
        "load_procs": a.procs,
        "concurrency": a.concurrency * a.procs,
        "seconds": round(wall, 2),
        "req_per_s": round(len(results) / wall),
        "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2),
        "outcomes": outcomes,
        "issued": bal.issued,
        "max_per_customer": top,
        "budget_used_cents": bal.budget_used_cents,
        "budget_cents": a.coupons * 1000,
        "reconcile_mismatches": len(drift),
        "ok": bal.issued == a.coupons
        and (top or 0) <= 1
        and bal.budget_used_cents <= a.coupons * 1000
        and not drift,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(main(sys.argv[1:])))
