"""Ingest benchmark: events/s through /v1/batch over loopback, and the raw log baseline.

Prints one JSON object. Run: ``.venv/bin/python bench/ingest.py [--seconds 10]``.
A real uvicorn server in a temp OPSLOOP_HOME; clients post 100-event batches of ~500 B
events from N threads; latency is the HTTP round trip, i.e. the fsync'd ack.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import orjson


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _batch(n: int) -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    events = [
        {
            "type": "track",
            "messageId": uuid.uuid4().hex,
            "anonymousId": uuid.uuid4().hex,
            "event": "fund_detail_view",
            "timestamp": now,
            "context": {"os": {"name": "iOS"}, "app": {"version": "8.1.0"}},
            "properties": {"fund": "F000123", "channel": "home_banner", "pad": "x" * 220},
        }
        for _ in range(n)
    ]
    return orjson.dumps({"batch": events, "sentAt": now})


def bench_log(directory: Path, seconds: float, threads: int) -> dict[str, float]:
    from opsloop.collect.log import EventLog

    log = EventLog(directory)
    payload = b"x" * 500
    stop = time.monotonic() + seconds
    counts = [0] * threads

    def run(t: int) -> None:
        i = 0
        while time.monotonic() < stop:
            log.append([(f"{t}-{i + k}", payload) for k in range(100)])
            i += 100
        counts[t] = i

    pool = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    t0 = time.monotonic()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    dt = time.monotonic() - t0
    fsyncs = log.batches
    log.close()
    return {"records_per_s": round(sum(counts) / dt), "fsyncs_per_s": round(fsyncs / dt)}


SERVER = """
import sys, uvicorn
from opsloop.api.app import create_app
app = create_app()
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""


def bench_http(home: Path, seconds: float, clients: int) -> dict[str, float]:
    """The server runs in its own process, so clients do not share its GIL."""
    import subprocess
    import sys

    os.environ["OPSLOOP_HOME"] = str(home)
    from opsloop.collect import sources
    from opsloop.settings import get_settings
    from opsloop.store import Store

    get_settings.cache_clear()
    home.mkdir(parents=True, exist_ok=True)
    store = Store.open(get_settings().database_url)
    _, key = sources.create_source(store, name="bench")
    store.close()
    port = _port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.post(f"{base}/v1/track", json={}, auth=(key, ""))
                break
            except httpx.TransportError:
                time.sleep(0.1)
        bodies = [[_batch(100) for _ in range(60)] for _ in range(clients)]
        size = len(bodies[0][0]) / 100
        latencies: list[float] = []
        sent = [0] * clients
        stop = time.monotonic() + seconds

        def run(c: int) -> None:
            with httpx.Client(base_url=base, auth=(key, ""), timeout=30) as http:
                for body in bodies[c]:
                    if time.monotonic() >= stop:
                        break
                    t0 = time.perf_counter()
                    r = http.post(
                        "/v1/batch", content=body, headers={"content-type": "application/json"}
                    )
                    latencies.append(time.perf_counter() - t0)
                    if r.status_code == 200:
                        sent[c] += 100

        pool = [threading.Thread(target=run, args=(c,)) for c in range(clients)]
        t0 = time.monotonic()
        for p in pool:
            p.start()
        for p in pool:
            p.join()
        dt = time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait()
    from opsloop.collect.log import EventLog

    with EventLog(home / "events") as log:
        stored = log.end_offset
    lat = sorted(latencies)
    return {
        "events_per_s_acked": round(sum(sent) / dt),
        "events_stored_unique": stored,
        "event_bytes": round(size),
        "requests": len(lat),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        out = {
            "benchmark": "collect.ingest",
            "cpu_count": os.cpu_count(),
            "clients": args.clients,
            "batch_events": 100,
            "log_append": bench_log(base / "rawlog", args.seconds, args.clients),
            "http_v1_batch": bench_http(base / "home", args.seconds, args.clients),
        }
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
