"""Benchmark: ``GET /api/v1/slots/{slot}?customer_id=`` latency at a fixed request rate.

The app runs under uvicorn (httptools, uvloop) in a child process on a fresh home with
``--contents`` slot contents (a third of them targeted at lists of 10,000 customers)
and ``--assignments`` journey banners (one running journey's ``slot`` messages, one per
customer, random priorities) in the same slot, and an API token holding only
``reach:serve`` (bank-wide, as the app backend's would).
The per-principal request limit is raised for the run (``OPSLOOP_RATE_PER_MINUTE``) —
the backend is one principal sending 1,000 req/s.

The load generator is another process: open loop, request ``k`` due at
``t0 + k / rate`` on one of ``--connections`` keep-alive sockets, latency measured from
when it was *due* (a stalled server is not hidden by the client waiting: no
coordinated omission). Baselines in the same run and at the same rate: the same route
through FastAPI — a second server built the same way with the slot fast path
(``opsloop.reach.asgi.SlotFastPath``) taken out, so every call is routed, its
dependencies resolved on worker threads — and ``GET /api/v1/health`` on the fast
server (no auth, no lookup: the floor set by uvicorn and FastAPI). Also the in-process
cost of one ``SlotIndex.best`` lookup, and the CPU per call of the application itself
(fast path, route, ``/health``) driven in-process through ASGI, without sockets — the
figure a loaded machine distorts least.

    .venv/bin/python bench/slots.py [--rate 1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SMALL = ["--seconds", "2", "--rate", "200", "--contents", "20"]

SERVER = """
import sys, uvicorn
from opsloop.api.app import create_app
from opsloop.reach.asgi import SlotFastPath
app = create_app()
if sys.argv[2] == "route":  # the baseline: every slot call through FastAPI's routing
    app.user_middleware = [m for m in app.user_middleware if m.cls is not SlotFastPath]
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, http="httptools", loop="uvloop")
"""


@dataclass(frozen=True)
class Job:
    port: int
    path_prefix: str  # "/api/v1/slots/home?customer_id=" or "/api/v1/health?x="
    token: str
    rate: float
    seconds: float
    connections: int
    customers: int


async def _read(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _load(job: Job) -> dict[str, Any]:
    rng = random.Random(7)
    lat: list[float] = []
    statuses: dict[int, int] = {}
    t0 = time.perf_counter() + 0.3
    total = int(job.rate * job.seconds)

    async def conn(c: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", job.port)
        for k in range(c, total, job.connections):
            due = t0 + k / job.rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            cid = rng.randrange(1, job.customers + 1)
            writer.write(
                f"GET {job.path_prefix}{cid} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {job.token}\r\n\r\n".encode()
            )
            status = await _read(reader)
            lat.append(time.perf_counter() - due)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    await asyncio.gather(*(conn(c) for c in range(job.connections)))
    elapsed = time.perf_counter() - t0
    return {"lat": lat, "statuses": statuses, "elapsed": elapsed}


def run_job(job: Job) -> dict[str, Any]:
    import uvloop

    return uvloop.run(_load(job))


def _summ(r: dict[str, Any], cpu_s: float) -> dict[str, Any]:
    lat = sorted(r["lat"])

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(len(lat) * q))] * 1000, 2)

    return {
        "requests": len(lat),
        "achieved_rps": round(len(lat) / r["elapsed"], 1),
        "statuses": r["statuses"],
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2),
        "server_cpu_ms_per_req": round(1000 * cpu_s / len(lat), 3),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(home: Path, contents: int, customers: int) -> str:
    """A fresh home: slot contents and a reach:serve token; returns the token."""
    from opsloop.access import credentials, users
    from opsloop.access.principal import LOCAL_OPERATOR
    from opsloop.access.schemas import TokenCreate, UserCreate
    from opsloop.reach import service
    from opsloop.settings import get_settings
    from opsloop.store import Store

    os.environ["OPSLOOP_HOME"] = str(home)
    get_settings.cache_clear()
    home.mkdir(parents=True, exist_ok=True)
    store = Store.open(get_settings().database_url, migrate=True)
    now = datetime.now(UTC)
    rng = random.Random(1)
    for i in range(contents):
        targeted = i % 3 == 0
        body = service.SlotContentIn(
            slot="home",
            title=f"理财推荐 {i}",
            link="https://bank.example/p/1",
            priority=rng.randrange(-100, 100),
            customer_ids=rng.sample(range(1, customers + 1), 10_000) if targeted else None,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=1),
        )
        service.add_slot_content(store, principal=LOCAL_OPERATOR, body=body, now=now)
    with store.session() as s:
        users.create_user(
            session=s,
            actor=LOCAL_OPERATOR,
            body=UserCreate(username="app-backend", org_id="HO", roles=["admin"]),
        )
        tok = credentials.create_token(
            session=s,
            actor=LOCAL_OPERATOR,
            body=TokenCreate(name="app", username="app-backend", scopes=["reach:serve"]),
        )
    store.close()
    return tok.token


def assign(customers: int, n: int) -> None:
    """``n`` journey banners (one running journey's ``slot`` messages, as
    ``SlotChannel`` stores them) for random customers, bulk-inserted."""
    from sqlalchemy import insert

    from opsloop.reach.models import SlotAssignmentRow
    from opsloop.settings import get_settings
    from opsloop.store import Store
    from opsloop.strategy.models import JourneyRow

    store = Store.open(get_settings().database_url)
    now = datetime.now(UTC)
    rng = random.Random(2)
    with store.session() as s:
        s.add(
            JourneyRow(
                journey_id="bench", name="bench", status="running", latest_version=1,
                running_version=1, created_by="bench",
            )
        )  # fmt: skip
        rows = [
            {
                "message_key": f"j:bench:1:banner:{c}:1",
                "slot": "home",
                "customer_id": c,
                "journey_id": "bench",
                "version": 1,
                "visit": 1,
                "title": "理财专享",
                "image_url": None,
                "link": "https://bank.example/p/2",
                "priority": rng.randrange(-100, 100),
                "starts_at": now - timedelta(hours=1),
                "ends_at": now + timedelta(days=1),
                "created_at": now,
            }
            for c in rng.sample(range(1, customers + 1), n)
        ]
        for i in range(0, len(rows), 10_000):
            s.execute(insert(SlotAssignmentRow), rows[i : i + 10_000])
    store.close()


def index_lookup_us(home: Path, customers: int) -> dict[str, float]:
    """One ``SlotIndex.best`` call (µs), the first full build and a steady refresh (ms)."""
    from opsloop.reach.slots import SlotIndex
    from opsloop.settings import get_settings
    from opsloop.store import Store

    store = Store.open(get_settings().database_url)
    idx = SlotIndex(store)
    t, c = time.perf_counter(), time.process_time()
    idx.refresh()  # the first: a full build
    full_wall, full_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    live = idx.refresh()  # what the refresher does every 2 s when nothing new came
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    store.close()
    ids = [random.randrange(1, customers + 1) for _ in range(20_000)]
    now = datetime.now(UTC)
    t = time.perf_counter()
    for cid in ids:
        idx.best("home", cid, now)
    return {
        "best_us": round(1e6 * (time.perf_counter() - t) / len(ids), 2),
        "full_build_ms": round(1000 * full_wall, 1),
        "full_build_cpu_ms": round(1000 * full_cpu, 1),
        "refresh_ms": round(1000 * wall, 1),
        "refresh_cpu_ms": round(1000 * cpu, 1),
        "live_entries": live,
    }


async def _drive(app: Any, token: str, path: str, n: int) -> float:
    """CPU µs per call of ``app`` for ``GET path?customer_id=…``, called in-process (no
    sockets, no HTTP parsing): what the application itself costs per request."""
    sent: list[dict[str, Any]] = []
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})

    async def life_send(m: dict[str, Any]) -> None:
        await events.put(m)

    life = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, startup.get, life_send)
    )
    assert (await events.get())["type"] == "lifespan.startup.complete"

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(m: dict[str, Any]) -> None:
        if m["type"] == "http.response.start":
            sent.append(m)

    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())]

    def scope(i: int) -> dict[str, Any]:
        return {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": f"customer_id={i}".encode(), "root_path": "",
            "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
            "state": {},
        }  # fmt: skip

    for i in range(1, 201):  # warm-up: token verified and cached, code paths loaded
        await app(scope(i), receive, send)
    c0 = time.process_time()
    for i in range(1, n + 1):
        await app(scope(i), receive, send)
    cpu = time.process_time() - c0
    assert all(m["status"] == 200 for m in sent), {m["status"] for m in sent}
    await startup.put({"type": "lifespan.shutdown"})
    await life
    return round(1e6 * cpu / n, 1)


def inprocess_cpu_us(token: str, n: int = 5000) -> dict[str, float]:
    """Per-call CPU of the fast path, the FastAPI route and /health, in this process."""
    import uvloop

    from opsloop.api.app import create_app
    from opsloop.reach.asgi import SlotFastPath
    from opsloop.settings import get_settings

    # Calls back to back, as fast as one core goes: no per-principal limit for this part.
    os.environ["OPSLOOP_RATE_PER_MINUTE"] = "1e12"
    os.environ["OPSLOOP_RATE_BURST"] = str(10**9)
    get_settings.cache_clear()
    out = {}
    for name, route, path in (
        ("slots_fast_path", False, "/api/v1/slots/home"),
        ("slots_route", True, "/api/v1/slots/home"),
        ("health", False, "/api/v1/health"),
    ):
        app = create_app()
        if route:
            app.user_middleware = [m for m in app.user_middleware if m.cls is not SlotFastPath]
        out[name] = uvloop.run(_drive(app, token, path, n))
    return out


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--contents", type=int, default=60)
    ap.add_argument(
        "--assignments", type=int, default=100_000, help="journey banners, one per customer"
    )
    ap.add_argument("--customers", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        token = setup(home, args.contents, args.customers)
        assign(args.customers, args.assignments)
        os.environ["OPSLOOP_RATE_PER_MINUTE"] = str(args.rate * 60 * 10)
        os.environ["OPSLOOP_RATE_BURST"] = str(int(args.rate * 10))
        out: dict[str, Any] = {"bench": "slots", "rate": args.rate, "cores": os.cpu_count()}
        ctx = mp.get_context("spawn")
        slots = "/api/v1/slots/home?customer_id="
        for server, runs in (
            (
                "fast",
                (("warmup", slots), ("slots", slots), ("baseline_health", "/api/v1/health?x=")),
            ),
            ("route", (("warmup", slots), ("baseline_route", slots))),
        ):
            port = _port()
            proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), server])
            try:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=1):
                            break
                    except OSError:
                        time.sleep(0.1)
                for name, prefix in runs:
                    seconds = 2.0 if name == "warmup" else args.seconds
                    job = Job(
                        port, prefix, token, args.rate, seconds, args.connections, args.customers
                    )
                    c0 = _cpu(proc.pid)
                    with ctx.Pool(1) as pool:
                        r = pool.apply(run_job, (job,))
                    if name != "warmup":
                        out[name] = _summ(r, _cpu(proc.pid) - c0)
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        out["index"] = index_lookup_us(home, args.customers)
        out["inprocess_cpu_us_per_call"] = inprocess_cpu_us(token)
        for base in ("baseline_route", "baseline_health"):
            out[f"p99_{base}_over_slots"] = round(
                out[base]["p99_ms"] / max(out["slots"]["p99_ms"], 1e-9), 2
            )
            out[f"cpu_{base}_over_slots"] = round(
                out[base]["server_cpu_ms_per_req"] / out["slots"]["server_cpu_ms_per_req"], 2
            )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
