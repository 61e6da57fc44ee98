"""No oversell with four API processes (`serve --workers 4`, production profile).

A coupon drop of 40 units is hammered over HTTP by 800 participations from 200 customers
spread over the four processes, on the real PostgreSQL and Redis. The ledger — not the
responses — must say: exactly 40 issued, nobody above one, the budget never exceeded,
and the Redis counters reconcile with the ledger.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from bench.coupon_grab import _setup
from sqlalchemy import func, select
from tests.runtime.test_multiprocess import _free_port

from opsloop.activity import ledger
from opsloop.activity.counters import RedisCounters
from opsloop.activity.models import BenefitUnit
from opsloop.store import Store

COUPONS, REQUESTS, CUSTOMERS, WORKERS = 40, 800, 200, 4


async def _hammer(base: str, aid: str, token: str) -> list[int]:
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    path = f"/api/v1/activities/{aid}/participate"
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as c:

        async def one() -> int:
            cid = rng.randrange(1, CUSTOMERS + 1)
            body = {"customer_id": cid, "device_id": f"d{cid}", "ip": "10.0.0.1"}
            return (await c.post(path, json=body, timeout=120)).status_code

        return await asyncio.gather(*(one() for _ in range(REQUESTS)))


@pytest.mark.postgres
@pytest.mark.redis
def test_four_api_processes_never_oversell(pg_url: str, redis_url: str, tmp_path: Path) -> None:
    aid, token = _setup(pg_url, COUPONS)
    env = os.environ | {
        "OPSLOOP_PROFILE": "production",
        "OPSLOOP_HOME": str(tmp_path / "home"),
        "OPSLOOP_DATABASE_URL": pg_url,
        "OPSLOOP_WAREHOUSE": pg_url,
        "OPSLOOP_REDIS_URL": redis_url,
        "OPSLOOP_SECRET_KEY": "g" * 48,
        "OPSLOOP_RATE_PER_MINUTE": "1e12",
        "OPSLOOP_RATE_BURST": "1000000000",
        "OPSLOOP_BACKGROUND_JOBS": "0",
    }
    port = _free_port()
    cmd = [sys.executable, "-m", "opsloop.cli.main", "serve", "--workers", str(WORKERS)]
    log_path = tmp_path / "serve.log"  # a file, not a pipe: a full pipe would block the server
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # four processes import the whole stack
        while True:
            try:
                if httpx.get(f"{base}/api/v1/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                pytest.fail(f"serve never became ready:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        time.sleep(3.0)  # every worker up, not just the first
        try:
            statuses = asyncio.run(_hammer(base, aid, token))
        except httpx.HTTPError as exc:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            log = log_path.read_text()[-4000:]
            pytest.fail(f"a participation failed ({exc!r}); server log:\n{log}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        log_file.close()
    assert len(statuses) == REQUESTS
    assert set(statuses) <= {200, 409}, sorted(set(statuses))  # granted, or sold out/limit
    store = Store.open(pg_url, migrate=False)
    try:
        with store.session() as s:
            bal = ledger.balances(s, benefit_id="grab10")
            per_customer = s.execute(
                select(BenefitUnit.customer_id, func.count()).group_by(BenefitUnit.customer_id)
            ).all()
            drift = ledger.reconcile(
                s, counters=RedisCounters(redis_url, ledger.derived_counters), scope="b/grab10"
            )
    finally:
        store.close()
    assert bal.issued == COUPONS
    assert max(n for _, n in per_customer) == 1 and len(per_customer) == COUPONS
    assert bal.budget_used_cents == COUPONS * 1000
    assert drift == []
