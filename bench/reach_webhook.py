"""Benchmark: webhook channel dispatch from the PostgreSQL outbox to a real local gateway.

The gateway runs in another process (raw asyncio + httptools + uvloop, keep-alive): it
verifies every HMAC signature, records the first arrival of each idempotency key and
counts repeats, like an idempotent provider. The dispatcher is
:class:`opsloop.reach.aio.AsyncDispatcher` (claims of ``--batch`` rows, several batches
in flight, one-statement completion). Runs over fresh outboxes of ``--messages``:

* ``limited``: token bucket at ``--rate`` msg/s; the rate is measured *at the gateway*
  (arrivals after the first second, so start-up does not count; also as the
  least-squares slope over every arrival), goal within 2 %;
* ``limited_low``: the same at ``--low-rate`` (ten seconds' worth), a rate a busy
  machine can carry — so the limiter's accuracy is seen apart from the capacity;
* ``unlimited``: no bucket — the dispatcher's ceiling;
* ``unlimited_workers`` (with ``--workers N``): the same with N dispatcher processes
  sharing the outbox (rows leased with ``SKIP LOCKED``), started together;
* ``baseline``: the threaded :class:`opsloop.reach.dispatch.Dispatcher` (httpx, 16
  threads, per-row completion), a fifth of the messages.

CPU seconds of the dispatcher process and of the gateway are reported per message: on
a shared machine they say what a quiet one would carry better than the wall clock.

Prints one JSON object (with the load average, the machine is shared).

    .venv/bin/python bench/reach_webhook.py [--messages 50000] [--rate 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import psycopg

from opsloop.reach import outbox
from opsloop.reach.aio import AsyncDispatcher
from opsloop.reach.channels.webhook import AsyncWebhookChannel, WebhookChannel
from opsloop.reach.dispatch import Dispatcher
from opsloop.reach.ratelimit import TokenBucket
from opsloop.store import Store

SECRET = b"bench-secret-0123456789"
PG_ADMIN = os.environ.get("OPSLOOP_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
SMALL = ["--messages", "3000", "--rate", "1000"]


# -- the gateway process ------------------------------------------------------------------


def serve(port: int) -> None:
    """An idempotent, signature-checking gateway; ``GET /stats`` and ``POST /reset``."""
    import httptools
    import uvloop

    from opsloop.reach import signing

    state: dict[str, Any] = {"first": {}, "repeats": 0, "bad": 0, "arrivals": [], "cpu0": 0.0}

    class Gw(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
            self.p = httptools.HttpRequestParser(self)
            self.h: dict[bytes, bytes] = {}
            self.body: list[bytes] = []
            self.url = b""

        def data_received(self, data: bytes) -> None:
            self.p.feed_data(data)

        def on_url(self, url: bytes) -> None:
            self.url = url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.h[name.lower()] = value

        def on_body(self, body: bytes) -> None:
            self.body.append(body)

        def on_message_complete(self) -> None:
            body, h, url = b"".join(self.body), self.h, self.url
            self.h, self.body = {}, []
            if url == b"/stats":
                answer = json.dumps(
                    {
                        "delivered": len(state["first"]),
                        "repeats": state["repeats"],
                        "bad_signatures": state["bad"],
                        "arrivals": state["arrivals"],
                        "cpu_s": time.process_time() - state["cpu0"],
                    }
                ).encode()
            elif url == b"/reset":
                state.update(first={}, repeats=0, bad=0, arrivals=[], cpu0=time.process_time())
                answer = b"{}"
            else:
                now = time.time()
                ok = (
                    signing.verify(
                        SECRET,
                        timestamp=h.get(b"x-opsloop-timestamp", b"").decode() or None,
                        signature=h.get(b"x-opsloop-signature", b"").decode() or None,
                        body=body,
                        now=now,
                    )
                    is None
                )
                key = h.get(b"idempotency-key", b"").decode()
                if not ok:
                    state["bad"] += 1
                elif key in state["first"]:
                    state["repeats"] += 1
                else:
                    state["first"][key] = now
                    state["arrivals"].append(now)
                answer = b'{"id":"gw","cost":0.04}' if ok else b'{"error":"signature"}'
            status = b"200 OK" if answer != b'{"error":"signature"}' else b"401 Unauthorized"
            self.t.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(answer)).encode()
                + b"\r\n\r\n"
                + answer
            )

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Gw, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    uvloop.run(main())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{url}/stats", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the outbox ---------------------------------------------------------------------------


@contextmanager
def pg_store() -> Iterator[Store]:
    name = f"opsloop_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'create database "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    store = Store.open(f"{url}/{name}", migrate=True)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(PG_ADMIN, autocommit=True) as con:
            con.execute(f'drop database if exists "{name}" with (force)')


def fill(store: Store, n: int, run: str) -> None:
    now = datetime.now(UTC) - timedelta(seconds=1)
    msgs = [
        outbox.Message(
            f"bench:{run}:{i}",
            "sms",
            i,
            f"bench-{run}",
            {"text": f"您的理财产品即将到期，回复 1 了解续存优惠 {i}"},
        )
        for i in range(n)
    ]
    with store.session() as s:
        outbox.enqueue(s, msgs, now=now)


def stats(url: str) -> dict[str, Any]:
    out: dict[str, Any] = httpx.get(f"{url}/stats", timeout=30).json()
    httpx.post(f"{url}/reset", timeout=30)
    return out


def slope_rate(arrivals: list[float]) -> float | None:
    """The least-squares slope of arrival index over time (every arrival counts)."""
    if len(arrivals) < 2:
        return None
    t = np.sort(np.asarray(arrivals, dtype=float))
    return float(np.polyfit(t - t[0], np.arange(len(t), dtype=float), 1)[0])


def measured_rate(arrivals: list[float], skip_s: float = 1.0) -> float | None:
    """Arrivals per second after the first ``skip_s`` seconds (steady state)."""
    a = sorted(arrivals)
    if len(a) < 2:
        return None
    steady = [t for t in a if t >= a[0] + skip_s]
    if len(steady) < 2:
        steady = a
    return (len(steady) - 1) / (steady[-1] - steady[0])


def run_async(
    store: Store,
    url: str,
    n: int,
    run: str,
    rate: float | None,
    batch: int,
    burst: int = 1,
    inflight: int = 8,
) -> dict[str, Any]:
    fill(store, n, run)
    bucket = TokenBucket(rate, burst=burst) if rate else None
    # concurrency must exceed rate x round trip: 5,000/s at a 50 ms round trip (a busy
    # machine) needs 250 messages in flight
    ch = AsyncWebhookChannel("sms", url=url, secret=SECRET, bucket=bucket, connections=256)
    d = AsyncDispatcher(store, {"sms": ch}, batch=batch, inflight=inflight, lanes=256)

    async def go() -> int:
        return await d.run(asyncio.Event(), once=True)

    import uvloop

    t0, c0 = time.perf_counter(), time.process_time()
    handled = uvloop.run(go())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    d.close()
    return _summary(store, url, n, handled, wall, rate, cpu)


def _worker(db_url: str, url: str, batch: int, go: Any, out: Any) -> None:
    """One dispatcher process of a ``--workers`` run: ready, wait for ``go``, dispatch."""
    import uvloop

    store = Store.open(db_url)
    ch = AsyncWebhookChannel("sms", url=url, secret=SECRET, bucket=None, connections=256)
    d = AsyncDispatcher(store, {"sms": ch}, batch=batch, inflight=3, lanes=256)
    out.put(("ready", 0, 0.0))
    go.wait()
    c0 = time.process_time()
    handled = uvloop.run(d.run(asyncio.Event(), once=True))
    cpu = time.process_time() - c0
    d.close()
    store.close()
    out.put(("done", handled, cpu))


def run_workers(
    store: Store, url: str, n: int, run: str, batch: int, workers: int
) -> dict[str, Any]:
    """``workers`` dispatcher processes on one outbox (claims with SKIP LOCKED)."""
    import multiprocessing as mp

    fill(store, n, run)
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    db_url = store.engine.url.render_as_string(hide_password=False)
    procs = [
        ctx.Process(target=_worker, args=(db_url, url, batch, go, out)) for _ in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        assert out.get(timeout=300)[0] == "ready"
    t0 = time.perf_counter()
    go.set()
    done = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(timeout=30)
    handled = sum(h for _, h, _ in done)
    cpu = sum(c for *_, c in done)
    res = _summary(store, url, n, handled, wall, None, cpu)
    res["workers"] = workers
    return res


def run_threaded(store: Store, url: str, n: int, run: str) -> dict[str, Any]:
    fill(store, n, run)
    ch = WebhookChannel("sms", url=url, secret=SECRET, connections=16)
    d = Dispatcher(store, {"sms": ch}, batch=500, concurrency=16)
    t0, c0 = time.perf_counter(), time.process_time()
    handled = 0
    while (k := d.run_once()) > 0:
        handled += k
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    d.close()
    return _summary(store, url, n, handled, wall, None, cpu)


def _summary(
    store: Store, url: str, n: int, handled: int, wall: float, rate: float | None, cpu: float
) -> dict[str, Any]:
    st = stats(url)
    counts = outbox.counts(store)
    at_gw = measured_rate(st["arrivals"])
    slope = slope_rate(st["arrivals"])
    out = {
        "messages": n,
        "handled": handled,
        "wall_s": round(wall, 3),
        "msgs_per_s": round(n / wall, 1),
        "gateway_rate_steady": round(at_gw, 1) if at_gw else None,
        "gateway_rate_lsq": round(slope, 1) if slope else None,
        "dispatcher_cpu_s": round(cpu, 2),
        "dispatcher_cpu_us_per_msg": round(1e6 * cpu / n, 1),
        "gateway_cpu_s": round(st["cpu_s"], 2),
        "delivered": st["delivered"],
        "repeats": st["repeats"],
        "bad_signatures": st["bad_signatures"],
        "outbox": counts,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    if rate and at_gw and slope:
        out["rate_error_pct"] = round(100 * (at_gw - rate) / rate, 2)
        out["rate_error_pct_lsq"] = round(100 * (slope - rate) / rate, 2)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=50_000)
    ap.add_argument("--rate", type=float, default=5000.0)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument(
        "--low-rate",
        type=float,
        default=500.0,
        help="a second limited run at a rate the machine can surely carry (0: skip)",
    )
    ap.add_argument("--baseline-messages", type=int, default=None)
    ap.add_argument(
        "--burst",
        type=int,
        default=1,
        help="the limited run's bucket size: a sender that stalled may catch up this many "
        "messages (the rate over a run of T seconds can exceed the limit by burst/T at most)",
    )
    ap.add_argument(
        "--inflight",
        type=int,
        default=8,
        help="batches in flight per dispatcher (a limited batch lives >= batch/rate seconds)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also an unlimited run with this many dispatcher processes (1: skip)",
    )
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve)
        return
    with gateway() as url:
        stats(url)  # reset: the gateway's start-up is not the first run's CPU
        result: dict[str, Any] = {"bench": "reach_webhook", "cores": os.cpu_count()}
        with pg_store() as store:
            result["limited"] = run_async(
                store, url, args.messages, "l", args.rate, args.batch, args.burst, args.inflight
            )
            result["limited"]["burst"] = args.burst
        if args.low_rate:
            with pg_store() as store:
                n_low = max(1000, int(args.low_rate * 10))  # ten seconds' worth
                result["limited_low"] = run_async(
                    store, url, n_low, "ll", args.low_rate, args.batch
                )
        with pg_store() as store:
            result["unlimited"] = run_async(store, url, args.messages, "u", None, args.batch)
        if args.workers > 1:
            with pg_store() as store:
                result["unlimited_workers"] = run_workers(
                    store, url, args.messages, "w", args.batch, args.workers
                )
        with pg_store() as store:
            nb = args.baseline_messages or max(1000, args.messages // 5)
            result["baseline_threaded"] = run_threaded(store, url, nb, "b")
        base = result["baseline_threaded"]["msgs_per_s"]
        result["unlimited_vs_baseline"] = round(result["unlimited"]["msgs_per_s"] / base, 2)
    for k in ("limited", "limited_low", "unlimited", "unlimited_workers", "baseline_threaded"):
        result.get(k, {}).pop("arrivals", None)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
