"""Coupon grab (抢券): many customers hammer one coupon drop over loopback.

A real uvicorn server (PostgreSQL store; Redis counters and risk windows with
``--redis``, guarded SQL updates and SQL windows without) and an out-of-process load
generator with keep-alive connections: ``wrk`` (Debian package ``wrk``; a Lua script
sends exactly ``--requests`` participations from random customers and tallies the
outcomes) or, with ``--loader httpx``, asyncio httpx clients in several processes.
After the run the ledger is checked: exactly ``--coupons`` issued, nobody above the
per-customer limit, the budget not exceeded, counters reconciled with the ledger.

Run: ``.venv/bin/python -m bench coupon_grab --redis`` (full size: 10,000 coupons,
200,000 requests, 50,000 customers). ``--serve`` only sets up and starts the server
(for profiling with py-spy) and prints how to load it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
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
PATH = "/api/v1/activities/{aid}/participate"

# wrk: each thread sends exactly N participations (then pads with cheap health checks
# until its last participation is answered, so none is cut off) and tallies outcomes.
WRK_LUA = """
local ffi = require("ffi")  -- wrk embeds LuaJIT; CLOCK_MONOTONIC for the wall time
ffi.cdef[[ typedef struct { long s; long ns; } ts_t; int clock_gettime(int, ts_t *); ]]
local ts = ffi.new("ts_t")
local function now() ffi.C.clock_gettime(1, ts); return tonumber(ts.s) + tonumber(ts.ns) / 1e9 end
local threads, nthreads = {}, 0
local N, CUSTOMERS, SEED = %(n)d, %(customers)d, %(seed)d
local path = "%(path)s"
local hdrs = {["Authorization"] = "Bearer %(token)s", ["Content-Type"] = "application/json"}
sent, got, padding, t_first, t_last, outcomes = 0, 0, 0, 0, 0, {}
t_issued, got_issued = 0, 0  -- the last "issued" answer: where the issuing phase ends

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

-- wrk calls request() once on thread 0 after init() only to verify it (never sent).
function init(args)
  math.randomseed(SEED + 7919 * tid)
  verifying = tid == 0
end

function request()
  if verifying or sent >= N then
    verifying = false
    return wrk.format("GET", "/api/v1/health")
  end
  if sent == 0 then t_first = now() end
  sent = sent + 1
  local cid = math.random(1, CUSTOMERS)
  local body = string.format(
    '{"customer_id":%%d,"device_id":"d%%d","ip":"10.%%d.%%d.%%d"}',
    cid, cid, cid %% 200, math.floor(cid / 200) %% 250, cid %% 7)
  return wrk.format("POST", path, hdrs, body)
end

-- Once this thread's participations are all sent, its idle connections pad slowly:
-- a fast padding loop of health checks would eat the server CPU being measured.
function delay()
  if sent >= N then return 250 end
  return 0
end

function response(status, headers, body)
  local o = string.match(body, '"outcome":"(%%a+)"')
  if o == nil and string.find(body, '"status":"ok"', 1, true) then
    padding = padding + 1
    return
  end
  got = got + 1
  if o == "issued" then t_issued, got_issued = now(), got end
  local k = o or tostring(status)
  outcomes[k] = (outcomes[k] or 0) + 1
  if got == N then
    t_last = now()
    io.open("%(done)s/" .. tid, "w"):close()  -- tells the bench to stop wrk (SIGINT)
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total, pad, first, last, merged = 0, 0, 1e18, 0, {}
  local issued_at, before_issued = 0, 0
  for _, t in ipairs(threads) do
    total, pad = total + t:get("got"), pad + t:get("padding")
    first, last = math.min(first, t:get("t_first")), math.max(last, t:get("t_last"))
    issued_at = math.max(issued_at, t:get("t_issued"))
    before_issued = before_issued + t:get("got_issued")
    for k, v in pairs(t:get("outcomes")) do merged[k] = (merged[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%%s":%%d', k, v)) end
  io.write(string.format(
    'RESULT {"answered":%%d,"padding":%%d,"seconds":%%.3f,"p50_ms":%%.2f,"p99_ms":%%.2f,' ..
    '"max_ms":%%.2f,"errors":%%d,"t_first":%%.6f,"t_last":%%.6f,"t_issued":%%.6f,' ..
    '"answered_issuing":%%d,"outcomes":{%%s}}\\n',
    total, pad, last - first, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout, first, last, issued_at, before_issued,
    table.concat(parts, ",")))
end
"""


# ---- measuring the phases -------------------------------------------------------------
#
# wrk's histogram covers every request; the issuing phase (the ~11,000 requests answered
# until the last coupon is issued) and the sold-out phase behave differently, so the
# bench splits them: wrk's script reports when the last "issued" answer came (its clock
# is CLOCK_MONOTONIC, like time.monotonic here and in the server), a sampler reads the
# CPU of the server, PostgreSQL's backends of the bench database, Redis, wrk and the
# whole machine every 100 ms, and ``--probe`` serves the app through ``probed_app``,
# which records in each worker the server-side time of every request (ASGI call to the
# last byte handed to uvicorn), the event loop's lag, the Redis calls and every group
# commit batch (size, time in the writer, the longest queue wait), written to
# ``OPSLOOP_BENCH_PROBE_DIR`` at shutdown.

PROBE_ENV = "OPSLOOP_BENCH_PROBE_DIR"
LAG_PERIOD_S = 0.005


class _Probe:
    """ASGI wrapper recording ``(start, seconds, kind)`` per request in this worker."""

    def __init__(self, app: Any, out: Path) -> None:
        from array import array

        self.app, self.out = app, out
        self.req_t, self.req_dt, self.req_kind = array("d"), array("f"), array("b")
        self.lag_t, self.lag = array("d"), array("f")
        self.calls: dict[str, tuple[Any, Any]] = {}
        self.batches: list[tuple[float, float, int, float]] = []  # start, s, rows, wait
        self._enq: dict[int, float] = {}
        self._patch()

    def _timed(self, owner: Any, name: str) -> None:
        from array import array

        orig = getattr(owner, name)
        ts, dts = array("d"), array("f")
        self.calls[f"{owner.__name__}.{name}"] = (ts, dts)

        async def timed(*args: Any, **kw: Any) -> Any:
            t = time.monotonic()
            try:
                return await orig(*args, **kw)
            finally:
                ts.append(t)
                dts.append(time.monotonic() - t)

        setattr(owner, name, timed)

    def _patch(self) -> None:
        from opsloop.activity import counters, grab, risk

        self._timed(counters.RedisCounters, "grab_async")
        self._timed(risk.RedisWindows, "hit_async")
        gc_cls: Any = grab.GroupCommit
        commit, write, enq, batches = gc_cls.commit, gc_cls._write, self._enq, self.batches

        async def commit_probed(this: Any, item: Any) -> Any:
            enq[id(item)] = time.monotonic()
            return await commit(this, item)

        def write_probed(this: Any, items: list[Any]) -> Any:
            t = time.monotonic()
            wait = max((t - enq.pop(id(i), t) for i in items), default=0.0)
            try:
                return write(this, items)
            finally:
                batches.append((t, time.monotonic() - t, len(items), wait))

        gc_cls.commit, gc_cls._write = commit_probed, write_probed

    async def _lag(self) -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(LAG_PERIOD_S)
            self.lag_t.append(t)
            self.lag.append(time.monotonic() - t - LAG_PERIOD_S)

    def _dump(self) -> None:
        data = {
            "pid": os.getpid(),
            "req": [list(self.req_t), list(self.req_dt), list(self.req_kind)],
            "lag": [list(self.lag_t), list(self.lag)],
            "calls": {k: [list(a), list(b)] for k, (a, b) in self.calls.items()},
            "batches": self.batches,
        }
        (self.out / f"{os.getpid()}.json").write_text(json.dumps(data))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":

            async def send_lifespan(msg: Any) -> None:
                if msg["type"] == "lifespan.startup.complete":
                    self._lag_task = asyncio.get_running_loop().create_task(self._lag())
                elif msg["type"] == "lifespan.shutdown.complete":
                    self._dump()
                await send(msg)

            await self.app(scope, receive, send_lifespan)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t = time.monotonic()
        kind = [0]

        async def send_timed(msg: Any) -> None:
            if msg["type"] == "http.response.body":
                body = msg.get("body", b"")
                kind[0] = 1 if b'"issued"' in body else 2 if b'"exhausted"' in body else 3
            await send(msg)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            self.req_t.append(t)
            self.req_dt.append(time.monotonic() - t)
            self.req_kind.append(kind[0])


def probed_app() -> Any:
    """The server's app with :class:`_Probe` around it (uvicorn ``--factory``)."""
    from opsloop.api.app import create_app

    return _Probe(create_app(), Path(os.environ[PROBE_ENV]))


def _pct(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else float("nan")


def _dist_ms(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {
        "n": len(xs),
        "p50_ms": round(_pct(xs, 0.5) * 1000, 2),
        "p90_ms": round(_pct(xs, 0.9) * 1000, 2),
        "p99_ms": round(_pct(xs, 0.99) * 1000, 2),
        "max_ms": round(xs[-1] * 1000, 2) if xs else float("nan"),
    }


def _probe_report(out: Path, t_first: float, t_issued: float, t_last: float) -> dict[str, Any]:
    """Per phase: server-side request time, loop lag, Redis calls; the group commit."""
    runs = [json.loads(f.read_text()) for f in sorted(out.glob("*.json"))]
    names = {1: "issued", 2: "exhausted", 3: "other"}
    rep: dict[str, Any] = {"workers_reporting": len(runs)}
    for phase, lo, hi in (("issuing", t_first, t_issued), ("sold_out", t_issued, t_last)):
        ph: dict[str, Any] = {}
        for code, name in names.items():
            xs = [
                dt
                for r in runs
                for t, dt, k in zip(*r["req"], strict=True)
                if k == code and lo <= t < hi
            ]
            if xs:
                ph[f"server_{name}"] = _dist_ms(xs)
        ph["loop_lag"] = _dist_ms(
            [x for r in runs for t, x in zip(*r["lag"], strict=True) if lo <= t < hi]
        )
        for name in runs[0]["calls"] if runs else []:
            xs = [dt for r in runs for t, dt in zip(*r["calls"][name], strict=True) if lo <= t < hi]
            if xs:
                ph[name] = _dist_ms(xs)
        rep[phase] = ph
    b = [x for r in runs for x in r["batches"]]
    if b:
        sizes = sorted(x[2] for x in b)
        rep["group_commit"] = {
            "batches": len(b),
            "rows": sum(sizes),
            "size_p50": _pct(sizes, 0.5),
            "size_p90": _pct(sizes, 0.9),
            "size_max": sizes[-1],
            "write": _dist_ms([x[1] for x in b]),
            "queue_wait_max_per_batch": _dist_ms([x[3] for x in b]),
        }
    return rep


class _CpuSampler:
    """CPU seconds of the server, its PostgreSQL backends, Redis, wrk and the machine."""

    def __init__(self, server_pid: int, dbname: str, redis_pid: int | None) -> None:
        import threading

        self.server_pid, self.dbname, self.redis_pid = server_pid, dbname, redis_pid
        self.samples: list[tuple[float, dict[str, dict[int, float]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _find(self) -> dict[str, list[int]]:
        pg, wrk = [], []
        tag = f" {self.dbname} ".encode()
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                cmd = Path(f"/proc/{d}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(b"postgres: ") and tag in cmd:
                pg.append(int(d))
            elif cmd.startswith(b"wrk\0"):
                wrk.append(int(d))
        server: list[int] = []
        with contextlib.suppress(OSError):
            server = _tree(self.server_pid)
        redis = [self.redis_pid] if self.redis_pid else []
        return {"server": server, "postgres": pg, "redis": redis, "wrk": wrk}

    def _sample(self, groups: dict[str, list[int]]) -> dict[str, dict[int, float]]:
        out = {name: {p: _cpu_seconds([p]) for p in pids} for name, pids in groups.items()}
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        out["machine"] = {0: (sum(ticks) - ticks[3] - ticks[4]) / hz, 1: sum(ticks) / hz}
        return out

    def _run(self) -> None:
        groups: dict[str, list[int]] = {}
        i = 0
        while not self._stop.is_set():
            if i % 5 == 0:
                groups = self._find()
            self.samples.append((time.monotonic(), self._sample(groups)))
            i += 1
            self._stop.wait(0.1)

    def between(self, lo: float, hi: float) -> dict[str, float]:
        """CPU seconds used from ``lo`` to ``hi`` (nearest samples; per process, so one
        that starts or ends in between counts from or to zero)."""
        if not self.samples:
            return {}
        a = min(self.samples, key=lambda s: abs(s[0] - lo))
        b = min(self.samples, key=lambda s: abs(s[0] - hi))
        out = {
            # a process gone by ``hi`` reads 0 there: its last part is lost, never negative
            name: round(sum(max(0.0, v - a[1][name].get(p, 0.0)) for p, v in b[1][name].items()), 2)
            for name in ("server", "postgres", "redis", "wrk")
        }
        busy, total = (b[1]["machine"][k] - a[1]["machine"][k] for k in (0, 1))
        return out | {
            "machine_busy": round(busy, 2),
            "machine_all": round(total, 2),
            "seconds": round(b[0] - a[0], 2),
        }


def _phases(res: dict[str, Any], cpu: _CpuSampler, a: argparse.Namespace) -> dict[str, Any]:
    """Issuing phase (until the last coupon's answer) and sold-out phase, from wrk."""
    if "t_issued" not in res or not res["t_issued"]:
        return {}
    out: dict[str, Any] = {}
    spans = (
        ("issuing", res["t_first"], res["t_issued"], res["answered_issuing"]),
        ("sold_out", res["t_issued"], res["t_last"], res["answered"] - res["answered_issuing"]),
    )
    for name, lo, hi, n in spans:
        secs = max(hi - lo, 1e-9)
        used = cpu.between(lo, hi)
        ph: dict[str, Any] = {
            "answered": n,
            "seconds": round(secs, 2),
            "req_per_s": round(n / secs),
            # Little's law: the connections are always busy, so mean latency = c / rate
            "client_mean_ms": round(a.connections / (n / secs) * 1000, 2) if n else None,
        }
        if used and n:
            ph["cpu_s"] = used
            ph["server_cpu_ms_per_request"] = round(used["server"] * 1000 / n, 3)
            all_s = max(used["machine_all"], 1e-9)
            ph["machine_busy_pct"] = round(100 * used["machine_busy"] / all_s, 1)
        out[name] = ph
    return out


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


def _httpx_part(args: tuple[str, str, str, int, int, int, int]) -> list[tuple[float, int, str]]:
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
                    r = await c.post(PATH.format(aid=aid), json=body)
                    dt = time.perf_counter() - t
                    ok = r.status_code == 200
                    out.append((dt, r.status_code, r.json().get("outcome", "") if ok else ""))

            await asyncio.gather(*(worker() for _ in range(conc)))
        return out

    return asyncio.run(run())


def _load_httpx(base: str, aid: str, token: str, a: argparse.Namespace) -> dict[str, Any]:
    per = a.requests // a.procs
    jobs = [(base, aid, token, per, a.customers, a.concurrency, i) for i in range(a.procs)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(a.procs) as pool:
        results = [r for part in pool.map(_httpx_part, jobs) for r in part]
    wall = time.perf_counter() - t0
    lat = sorted(r[0] for r in results)
    outcomes: dict[str, int] = {}
    for _, code, outcome in results:
        k = outcome or str(code)
        outcomes[k] = outcomes.get(k, 0) + 1
    return {
        "answered": len(results),
        "seconds": wall,
        "padding": 0,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
        "max_ms": lat[-1] * 1000,
        "errors": 0,
        "outcomes": outcomes,
    }


def _load_wrk(base: str, aid: str, token: str, a: argparse.Namespace) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk, or pass --loader httpx")
    if a.requests % a.threads:
        raise SystemExit("--requests must be a multiple of --threads")
    work = Path(tempfile.mkdtemp(prefix="opsloop-wrk-"))
    script, done = work / "grab.lua", work / "done"
    done.mkdir()
    script.write_text(
        WRK_LUA
        % {
            "n": a.requests // a.threads,
            "customers": a.customers,
            "seed": 20261123,
            "path": PATH.format(aid=aid),
            "token": token,
            "done": str(done),
        }
    )
    cmd = ["wrk", "-t", str(a.threads), "-c", str(a.connections), "-d", "3600s"]
    cmd += ["--timeout", "10s", "-s", str(script), base]
    # wrk runs for -d whatever the script does; stop it (SIGINT) once every thread is done.
    wrk = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    while len(list(done.iterdir())) < a.threads and wrk.poll() is None:
        time.sleep(0.05)
    wrk.send_signal(signal.SIGINT)
    out, _ = wrk.communicate(timeout=60)
    shutil.rmtree(work)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    res: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return res


def _start_server(
    env: dict[str, str], workers: int, app: str = "opsloop.api.app:create_app"
) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    cmd = [sys.executable, "-m", "uvicorn", app, "--factory"]
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    cmd += ["--no-access-log", "--backlog", "4096"]
    server = subprocess.Popen(cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600  # a busy machine imports slowly
    while True:
        try:
            if httpx.get(base + "/api/v1/health", timeout=10).status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not come up") from None
            time.sleep(0.2)
    time.sleep(5.0)  # every worker up, not just the first
    return server, base


def _warm_up(base: str, token: str) -> None:
    """Each worker builds its route table and pools on first use: do that untimed.

    Participations in an activity that does not exist (404) pass routing, the token
    check and the activity lookup without touching the benchmarked stock.
    """
    if shutil.which("wrk") is None:
        return
    script = Path(tempfile.mkdtemp(prefix="opsloop-warm-")) / "warm.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        "wrk.body = '{\"customer_id\": 1}'\n"
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    url = base + PATH.format(aid="warmup0000000000")
    cmd = ["wrk", "-t", "1", "-c", "32", "-d", "5s", "-s", str(script), url]
    subprocess.run(cmd, capture_output=True, check=False)
    shutil.rmtree(script.parent)


def _tree(pid: int) -> list[int]:
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [q for k in kids for q in _tree(int(k))]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (to compare runs on a shared machine)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a worker uvicorn replaced: its CPU is lost, not fatal
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _check(url: str, a: argparse.Namespace) -> dict[str, Any]:
    """The ledger, not the responses, says what was issued."""
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
    return {
        "issued": bal.issued,
        "max_per_customer": top,
        "budget_used_cents": bal.budget_used_cents,
        "budget_cents": a.coupons * 1000,
        "reconcile_mismatches": len(drift),
        "ledger_ok": bal.issued == a.coupons
        and (top or 0) <= 1
        and bal.budget_used_cents <= a.coupons * 1000
        and not drift,
    }


def main(argv: list[str]) -> dict[str, Any]:
    p = argparse.ArgumentParser()
    p.add_argument("--coupons", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=200_000)
    p.add_argument("--customers", type=int, default=50_000)
    p.add_argument("--workers", type=int, default=3, help="uvicorn worker processes")
    p.add_argument("--loader", choices=("wrk", "httpx"), default="wrk")
    p.add_argument("--threads", type=int, default=1, help="wrk threads (1: no padding skew)")
    p.add_argument("--connections", type=int, default=64, help="wrk keep-alive connections")
    p.add_argument("--procs", type=int, default=3, help="httpx load processes")
    p.add_argument("--concurrency", type=int, default=32, help="httpx clients per process")
    p.add_argument("--redis", action="store_true")
    p.add_argument("--serve", action="store_true", help="set up, start, wait (profiling)")
    p.add_argument(
        "--probe",
        action="store_true",
        help="per-phase server-side latency, loop lag, Redis calls, group-commit batches",
    )
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
    redis_pid = None
    if a.redis:
        import redis

        r = redis.Redis.from_url(REDIS)
        r.flushdb()
        redis_pid = int(r.info("server")["process_id"])
        env["OPSLOOP_REDIS_URL"] = REDIS
    probe_dir = Path(tempfile.mkdtemp(prefix="opsloop-probe-")) if a.probe else None
    if probe_dir is not None:
        env[PROBE_ENV] = str(probe_dir)
    os.environ.update({k: v for k, v in env.items() if k.startswith("OPSLOOP_")})
    server = None
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    try:
        aid, token = _setup(url, a.coupons)
        app = "bench.coupon_grab:probed_app" if a.probe else "opsloop.api.app:create_app"
        server, base = _start_server(env, a.workers, app)
        if a.serve:
            print(json.dumps({"base": base, "aid": aid, "token": token, "pid": server.pid}))
            print(f"wrk script: see WRK_LUA; Ctrl-C to stop (database {dbname})", flush=True)
            server.wait()
        _warm_up(base, token)
        load = _load_wrk if a.loader == "wrk" else _load_httpx
        pids = _tree(server.pid)
        cpu0 = _cpu_seconds(pids)
        with _CpuSampler(server.pid, dbname, redis_pid) as sampler:
            res = load(base, aid, token, a)
            time.sleep(0.15)  # one more sample after the last answer
        server_cpu = _cpu_seconds(pids) - cpu0
        phases = _phases(res, sampler, a)
        load_after = Path("/proc/loadavg").read_text().split()[:3]
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
    if probe_dir is not None and phases:
        phases["probe"] = _probe_report(probe_dir, res["t_first"], res["t_issued"], res["t_last"])
    if probe_dir is not None:
        shutil.rmtree(probe_dir)
    checked = _check(url, a)
    with psycopg.connect(PG, autocommit=True) as con:
        con.execute(f'drop database if exists "{dbname}" with (force)')
    return {
        "path": "redis" if a.redis else "sql",
        "loader": a.loader,
        "coupons": a.coupons,
        "requests": a.requests,
        "answered": res["answered"],
        "customers": a.customers,
        "server_workers": a.workers,
        "connections": a.connections if a.loader == "wrk" else a.concurrency * a.procs,
        "seconds": round(res["seconds"], 2),
        "req_per_s": round(res["answered"] / res["seconds"]),
        "p50_ms": round(res["p50_ms"], 2),
        "p99_ms": round(res["p99_ms"], 2),
        "max_ms": round(res["max_ms"], 2),
        "server_cpu_s": round(server_cpu, 1),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / a.requests, 3),
        "transport_errors": res["errors"],
        "padding_health_checks": res["padding"],
        "outcomes": res["outcomes"],
        "phases": phases,
        **checked,
        "ok": checked["ledger_ok"] and res["answered"] == a.requests,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
