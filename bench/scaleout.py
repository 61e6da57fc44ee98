"""Scale-out: tracking ingest through ``opsloop serve --workers N`` in the production
profile (PostgreSQL store and warehouse, Redis streams), N = 1, 2, 4.

Each run: a fresh PostgreSQL database (migrated explicitly, as production requires), a
flushed Redis db, one write key; the server in its own process group; the load
generator of ``bench/ingest.py`` (asyncio over raw keep-alive sockets, separate
processes, closed loop) for ``--seconds``. Reports acknowledged events/s, p50/p99 per
100-event request and errors per N — on 2 cores the point is that throughput does not
fall and nothing fails as processes are added. Prints one JSON object.

    .venv/bin/python -m bench scaleout --seconds 10
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from bench.ingest import load

SMALL = ["--seconds", "2", "--workers", "1"]
PG_ADMIN = os.environ.get("OPSLOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("OPSLOOP_BENCH_REDIS", "redis://127.0.0.1:6379/13")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_one(workers: int, seconds: float, procs: int, conns: int) -> dict[str, Any]:
    from opsloop.collect import sources
    from opsloop.store import Store
    from opsloop.store.db import upgrade

    name = f"opsloop_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    redis.Redis.from_url(REDIS).flushdb()
    home = Path(tempfile.mkdtemp(prefix="opsloop-scale-"))
    port = _port()
    try:
        upgrade(url)
        store = Store.open(url, migrate=False)
        _, key = sources.create_source(store, name="bench")
        store.close()
        env = os.environ | {
            "OPSLOOP_PROFILE": "production",
            "OPSLOOP_HOME": str(home),
            "OPSLOOP_DATABASE_URL": url,
            "OPSLOOP_WAREHOUSE": url,
            "OPSLOOP_REDIS_URL": REDIS,
            "OPSLOOP_SECRET_KEY": "bench-" + "k" * 40,
            "OPSLOOP_BACKGROUND_JOBS": "0",
        }
        cmd = [sys.executable, "-m", "opsloop.cli.main", "serve", "--workers", str(workers)]
        server = subprocess.Popen(
            [*cmd, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/api/v1/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{workers} workers never became ready")
                time.sleep(0.5)
            time.sleep(2.0)  # let every worker finish starting, not only the first
            result = load(
                port, key, seconds=seconds, procs=procs, conns=conns, rate=0, tag=f"w{workers}-"
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        return {"workers": workers, **result}
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f'drop database if exists "{name}" with (force)')


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--workers", default="1,2,4", help="comma-separated API process counts")
    ap.add_argument("--procs", type=int, default=2, help="load generator processes")
    ap.add_argument("--conns", type=int, default=8, help="connections per generator process")
    args = ap.parse_args(argv)
    runs = [run_one(int(w), args.seconds, args.procs, args.conns) for w in args.workers.split(",")]
    return {
        "benchmark": "scaleout.ingest",
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg()[0],
        "runs": runs,
    }
