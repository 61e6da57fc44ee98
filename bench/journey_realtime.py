"""Benchmark: a tracked event's acknowledgement → the journey's message row in the outbox.

A real ``opsloop serve`` (uvicorn, one process: the embedded event log has one writer)
runs with the journey runner inside it (``OPSLOOP_JOURNEY_RUNNER=1``) on a fresh home:
``--customers`` customers in the DuckDB warehouse, SQLite store, one running journey
``event_entry(large_outflow) → send_message(sms, marketing: caps, consent, DND)``.

The load generator (asyncio over raw keep-alive sockets, so it costs little CPU) posts
one ``/v1/track`` per event, open loop at ``--rate`` events/s for ``--seconds``: event
``k`` is due at ``t0 + k / rate`` (a slow server is not hidden by a waiting client);
``--per-request N`` sends N events per ``/v1/batch`` call instead, as SDKs batch.
Each event is a different customer, so an outbox row names its event. An observer
thread polls ``reach_outbox`` every 2 ms and notes when each row first shows; the
latency of an event is (row seen) − (its 200 received). Baseline in the same run: the
acknowledgement round trip itself (what the collection API alone costs).

    .venv/bin/python bench/journey_realtime.py [--rate 1000] [--seconds 10] [--customers 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

SMALL = ["--rate", "200", "--seconds", "3", "--customers", "5000"]
JOURNEY = {
    "id": "outflow",
    "name": "Large outflow",
    "nodes": [
        {"id": "entry", "kind": "event_entry", "config": {"trigger": {"event": "large_outflow"}}},
        {"id": "sms", "kind": "send_message", "config": {"channel": "sms", "template_id": "t"}},
    ],
    "edges": [{"from": "entry", "to": "sms"}],
}
POLICY = {
    "caps": [{"channel": "sms", "max": 2, "per": "week"}],
    "global_control": {"share": 0.05},
}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(home: Path, n: int) -> str:
    """Warehouse, store, launched journey and a write key in a fresh home."""
    from opsloop.access.principal import Principal
    from opsloop.collect import sources
    from opsloop.store import Store
    from opsloop.strategy import service
    from opsloop.warehouse import Warehouse

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.journey import customers

    home.mkdir(parents=True, exist_ok=True)
    (home / "contact-policy.json").write_bytes(orjson.dumps(POLICY))
    wh = Warehouse.open(str(home / "warehouse.duckdb"))
    wh.replace_tables({"customers": customers(n)})
    wh.close()
    store = Store.open(f"sqlite:///{home / 'opsloop.db'}")
    maker = Principal(id="maker", kind="user", permissions=frozenset({"journey:submit"}))
    checker = Principal(id="checker", kind="user", permissions=frozenset({"journey:approve"}))
    with store.session() as s:
        service.save_journey(session=s, principal=maker, doc=JOURNEY)
        for who, action in ((maker, "submit"), (checker, "approve"), (maker, "launch")):
            service.transition(session=s, principal=who, journey_id="outflow", action=action)
    _, key = sources.create_source(store, name="bench")
    store.close()
    return key


def _event(cid: int, now: str) -> dict[str, Any]:
    return {"type": "track", "userId": str(cid), "event": "large_outflow",
            "messageId": f"rt-{cid}", "timestamp": now,
            "properties": {"amount": 150_000, "account": "savings"}}  # fmt: skip


def request(cids: list[int], auth: bytes, now: str) -> bytes:
    """One ``/v1/track`` per event, or one ``/v1/batch`` of several (as SDKs batch)."""
    if len(cids) == 1:
        path, body = b"/v1/track", orjson.dumps(_event(cids[0], now))
    else:
        path, body = b"/v1/batch", orjson.dumps({"batch": [_event(c, now) for c in cids]})
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Basic " + auth + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )


Job = tuple[list[int], float, bytes]


async def _conn(
    port: int,
    queue: asyncio.Queue[Job],
    acks: dict[int, float],
    errs: list[int],
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while True:
        cids, due, req = await queue.get()
        if not cids:
            break
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        t = time.time()
        for cid in cids:
            if head.startswith(b"HTTP/1.1 200"):
                acks[cid] = t
            else:
                errs.append(cid)
    writer.close()


async def generate(
    port: int, key: str, rate: float, seconds: float, n: int, per_request: int
) -> tuple[dict[int, float], dict[int, float], list[int]]:
    """Open loop: request k due at t0 + k * per_request / rate; customers 1..total."""
    auth = base64.b64encode(key.encode() + b":")
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    total = min(int(rate * seconds), n)
    t0 = time.time() + 0.5
    conns = max(8, int(rate / per_request // 50))
    queues: list[asyncio.Queue[Job]] = [asyncio.Queue() for _ in range(conns)]
    due: dict[int, float] = {}
    for k, start in enumerate(range(1, total + 1, per_request)):
        cids = list(range(start, min(start + per_request, total + 1)))
        at = t0 + k * per_request / rate
        due.update(dict.fromkeys(cids, at))
        queues[k % conns].put_nowait((cids, at, request(cids, auth, now)))
    for q in queues:
        q.put_nowait(([], 0.0, b""))
    acks: dict[int, float] = {}
    errs: list[int] = []
    await asyncio.gather(*(_conn(port, q, acks, errs) for q in queues))
    return due, acks, errs


class Observer(threading.Thread):
    """Notes when each outbox row first becomes visible (polls every 2 ms)."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db, self.seen, self.stop = db, {}, threading.Event()
        self.seen: dict[int, float]

    def run(self) -> None:
        con = sqlite3.connect(self.db, timeout=30)
        last = 0
        while not self.stop.is_set():
            rows = con.execute(
                "SELECT id, customer_id FROM reach_outbox WHERE id > ? ORDER BY id", (last,)
            ).fetchall()
            t = time.time()
            for rid, cid in rows:
                self.seen.setdefault(int(cid), t)
                last = max(last, int(rid))
            time.sleep(0.002)
        con.close()


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * q))] * 1000, 1)


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--per-request", type=int, default=1, help="events per HTTP call")
    args = ap.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="bench-rt-")) / "home"
    key = setup(home, args.customers)
    port = _port()
    env = {**os.environ, "OPSLOOP_HOME": str(home), "OPSLOOP_JOURNEY_RUNNER": "1",
           "OPSLOOP_SECRET_KEY": "b" * 40, "OPSLOOP_LOG_LEVEL": "warning"}  # fmt: skip
    for var in ("OPSLOOP_DATABASE_URL", "OPSLOOP_WAREHOUSE", "OPSLOOP_REDIS_URL"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "opsloop.cli.main", "serve", "--port", str(port)]
    log_path = home.parent / "server.log"  # a file, not a PIPE: a full pipe stalls the server
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)
    observer = Observer(home / "opsloop.db")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(2.0)  # the runner starts once the collector's log is open
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        observer.start()
        job = generate(port, key, args.rate, args.seconds, args.customers, args.per_request)
        due, acks, errs = asyncio.run(job)
        end = time.monotonic() + 30
        while time.monotonic() < end and len(observer.seen) < len(acks) * 0.7:
            time.sleep(0.2)
        time.sleep(2.0)
        observer.stop.set()
        observer.join()
        load_after = Path("/proc/loadavg").read_text().split()[:3]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()
    err = log_path.read_bytes()
    ack_rtt = [acks[c] - due[c] for c in acks]
    lat = [observer.seen[c] - acks[c] for c in acks if c in observer.seen]
    span = max(acks.values()) - min(due.values()) if acks else 0.0
    return {
        "rate_target": args.rate,
        "events_per_request": args.per_request,
        "events_sent": len(due),
        "acknowledged": len(acks),
        "http_errors": len(errs),
        "acked_per_s": round(len(acks) / span) if span else None,
        "outbox_rows": len(observer.seen),
        "rows_without_ack": len(set(observer.seen) - set(acks)),
        "ack_to_outbox_ms": {"p50": _pct(lat, 0.5), "p90": _pct(lat, 0.9),
                             "p99": _pct(lat, 0.99), "max": _pct(lat, 1.0)},
        "baseline_ack_rtt_ms": {"p50": _pct(ack_rtt, 0.5), "p99": _pct(ack_rtt, 0.99)},
        "goal_p99_ms": 100,
        "customers": args.customers,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "server_stderr_tail": err.decode(errors="replace")[-400:] if proc.returncode else "",
    }  # fmt: skip


if __name__ == "__main__":
    print(orjson.dumps(main(sys.argv[1:])).decode())
