"""Acknowledgement → delivery latency to a real-time stream consumer.

Prints one JSON object. Run: ``.venv/bin/python bench/stream_latency.py [--seconds 10]``.

A producer appends small batches at a steady rate (open loop, ``--rate`` events/s in
batches of ``--batch``), as the tracking API does; the clock starts when ``append``
returns (the event is acknowledged: fsync'd, or in Redis) and stops when a subscribed
handler (``stream.subscribe(name, handler)``, the consumer API journeys use) receives
the record. Both the embedded durable log and Redis Streams (when Redis answers on
``--redis``) are measured in the same run; the goal is p99 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from opsloop.collect.log import EventLog, EventStream, Record


def measure(stream: EventStream, seconds: float, rate: float, batch: int) -> dict[str, Any]:
    acked: dict[str, float] = {}
    delivered: dict[str, float] = {}
    lock = threading.Lock()

    def handler(records: list[Record]) -> None:
        now = time.perf_counter()
        with lock:
            for r in records:
                delivered.setdefault(r.message_id, now)

    name = "lat" + uuid.uuid4().hex[:8]
    # Start the consumer at the stream's end, as a journey subscribing now would.
    sub = stream.subscribe(name, handler, batch=1000)
    time.sleep(0.5)
    payload = orjson.dumps({"type": "track", "event": "app_open", "pad": "x" * 400})
    interval = batch / rate
    t0 = time.perf_counter()
    k = 0
    while True:
        due = t0 + k * interval
        if due - t0 >= seconds:
            break
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        ids = [f"{name}-{k}-{i}" for i in range(batch)]
        stream.append([(mid, payload) for mid in ids])
        now = time.perf_counter()
        with lock:
            for mid in ids:
                acked[mid] = now
        k += 1
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        with lock:
            if len(delivered) >= len(acked):
                break
        time.sleep(0.05)
    sub.stop()
    with lock:
        lat = sorted(max(0.0, delivered[m] - acked[m]) for m in acked if m in delivered)
    missing = len(acked) - len(lat)

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(len(lat) * q))] * 1000, 3) if lat else -1.0

    return {
        "events": len(acked),
        "undelivered": missing,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 3) if lat else -1.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rate", type=float, default=2000, help="events/s")
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument(
        "--redis", default=os.environ.get("OPSLOOP_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    args = ap.parse_args()
    out: dict[str, Any] = {
        "benchmark": "collect.stream_latency",
        "rate_events_per_s": args.rate,
        "batch": args.batch,
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    with tempfile.TemporaryDirectory() as tmp, EventLog(Path(tmp) / "events") as log:
        out["durable_log"] = measure(log, args.seconds, args.rate, args.batch)
    try:
        from opsloop.collect.redis_stream import RedisStream

        prefix = "bench:lat:" + uuid.uuid4().hex[:8]
        with RedisStream(args.redis, prefix=prefix) as rs:
            rs.client.ping()
            try:
                out["redis_streams"] = measure(rs, args.seconds, args.rate, args.batch)
            finally:
                keys = list(rs.client.scan_iter(f"{prefix}:*", count=10_000))
                for i in range(0, len(keys), 1000):
                    rs.client.delete(*keys[i : i + 1000])
    except Exception as exc:  # Redis absent: say so, do not fail the bench
        out["redis_streams"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    out["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
