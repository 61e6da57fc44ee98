"""Ingest benchmark: events/s through ``/v1/batch`` over loopback, and the raw log baseline.

Prints one JSON object. Run: ``.venv/bin/python bench/ingest.py [--seconds 10]``.
A real uvicorn server (httptools, uvloop, one process: the log has one writer) in a temp
OPSLOOP_HOME, with its warehouse flusher running; clients post 100-event batches of
~500 B events. Latency is the HTTP round trip, i.e. the fsync'd acknowledgement.

The load generator runs in separate processes (asyncio over raw keep-alive sockets,
pre-built requests with only the 100 message ids filled in): a Python client in threads
cost more CPU than the server and measured itself. Two phases:

* closed loop — every connection sends its next request once answered: the ceiling;
* open loop at ``--rate`` events/s (default 25,000, half the 50,000/s goal) — request
  ``k`` is due at ``t0 + k / rate`` and its latency counts from when it was due, so a
  stalled server is not hidden by the client waiting (no coordinated omission).

After the run the log is reopened: every acknowledged event must be in it (ids are
unique, so stored = acknowledged), and the warehouse consumer's offset shows how far
the flusher kept up. Baseline in the same run: raw ``EventLog.append`` from threads.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

MARK = "@@ID@@"


def batch_template(n: int, pad: int = 220) -> list[bytes]:
    """A ``/v1/batch`` body of ``n`` ~500 B events split around the message-id slots."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    events = [
        {
            "type": "track",
            "messageId": MARK,
            "anonymousId": uuid.uuid4().hex,
            "event": "fund_detail_view",
            "timestamp": now,
            "context": {"os": {"name": "iOS"}, "app": {"version": "8.1.0"}},
            "properties": {"fund": "F000123", "channel": "home_banner", "pad": "x" * pad},
        }
        for _ in range(n)
    ]
    return orjson.dumps({"batch": events, "sentAt": now}).split(MARK.encode())


@dataclass
class Job:
    port: int
    key: str
    seconds: float
    connections: int
    rate: float  # requests/s for this process; 0 = closed loop
    prefix: str  # makes message ids unique across processes and runs
    events: int = 100


def _request(parts: list[bytes], prefix: bytes, seq: int, auth: bytes) -> bytes:
    ids = [b"%s-%d-%d" % (prefix, seq, i) for i in range(len(parts) - 1)]
    body = parts[0] + b"".join(i + p for i, p in zip(ids, parts[1:], strict=True))
    head = (
        b"POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Authorization: Basic " + auth + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    return head + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _run(job: Job) -> dict[str, object]:
    parts = batch_template(job.events)
    auth = base64.b64encode(f"{job.key}:".encode())
    prefix = job.prefix.encode()
    latencies: list[float] = []
    errors = 0
    acked = 0
    seq = 0
    t0 = time.perf_counter() + 0.2
    stop = t0 + job.seconds

    async def conn(c: int) -> None:
        nonlocal errors, acked, seq
        reader, writer = await asyncio.open_connection("127.0.0.1", job.port)
        k = c
        while True:
            if job.rate:
                due = t0 + k / job.rate
                k += job.connections
                if due >= stop:
                    break
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            else:
                due = time.perf_counter()
                if due >= stop:
                    break
            seq += 1
            req = _request(parts, prefix, seq, auth)
            writer.write(req)
            status = await _read_response(reader)
            latencies.append(time.perf_counter() - due)
            if status == 200:
                acked += job.events
            else:
                errors += 1
        writer.close()

    await asyncio.sleep(max(0.0, t0 - time.perf_counter()))
    cpu0 = time.process_time()
    await asyncio.gather(*(conn(c) for c in range(job.connections)))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "acked": acked,
        "errors": errors,
        "elapsed": elapsed,
        "latencies": latencies,
        "cpu_s": cpu,
    }


def run_job(job: Job) -> dict[str, object]:
    """Entry point for a worker process (multiprocessing)."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - plain asyncio also works
        pass
    return asyncio.run(_run(job))


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_log(directory: Path, seconds: float, threads: int) -> dict[str, float]:
    """Baseline: the log alone (framing, group commit, fsync), no HTTP, no validation."""
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
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, http="httptools", loop="uvloop")
"""


class Server:
    """``opsloop``'s app under uvicorn in a child process, on a fresh home with one key."""

    def __init__(self, home: Path) -> None:
        from opsloop.collect import sources
        from opsloop.settings import get_settings
        from opsloop.store import Store

        os.environ["OPSLOOP_HOME"] = str(home)
        get_settings.cache_clear()
        home.mkdir(parents=True, exist_ok=True)
        store = Store.open(get_settings().database_url)
        _, self.key = sources.create_source(store, name="bench")
        store.close()
        self.home = home
        self.port = _port()
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port)])
        self.pid = self.proc.pid
        deadline = time.monotonic() + 300  # a loaded machine takes minutes to import
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()  # never leave the child behind
        raise RuntimeError("server did not start within 300 s")

    def cpu_s(self) -> float:
        """CPU seconds the server process has used (user + system, all threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def thread_cpu_s(self) -> dict[str, float]:
        """CPU seconds per thread: the event loop (main thread: HTTP, validation), and
        the rest (log writer, flusher, DuckDB's workers) summed by thread name."""
        out: dict[str, float] = {}
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            key = "event_loop" if int(task.name) == self.pid else name
            out[key] = out.get(key, 0.0) + cpu
        return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()

    def log_state(self) -> dict[str, int]:
        from opsloop.collect.log import EventLog

        with EventLog(self.home / "events") as log:
            return {"stored": log.end_offset, "warehouse_offset": log.committed("warehouse")}


def load(
    port: int, key: str, *, seconds: float, procs: int, conns: int, rate: float, tag: str
) -> dict[str, float]:
    """Run the generator in ``procs`` processes; merge their counts and latencies."""
    jobs = [
        Job(port, key, seconds, conns, rate / 100 / procs if rate else 0.0, f"{tag}{p}")
        for p in range(procs)
    ]
    with mp.get_context("spawn").Pool(procs) as pool:
        results = pool.map(run_job, jobs)
    acked = sum(int(r["acked"]) for r in results)  # type: ignore[call-overload]
    errors = sum(int(r["errors"]) for r in results)  # type: ignore[call-overload]
    elapsed = max(float(r["elapsed"]) for r in results)  # type: ignore[arg-type]
    lat = sorted(x for r in results for x in r["latencies"])  # type: ignore[attr-defined]
    gen_cpu = sum(float(r["cpu_s"]) for r in results)  # type: ignore[arg-type]

    def pct(q: float) -> float:
        return round(lat[min(len(lat) - 1, int(len(lat) * q))] * 1000, 2) if lat else 0.0

    return {
        "events_per_s_acked": round(acked / elapsed),
        "acked": acked,
        "requests": len(lat),
        "errors": errors,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2) if lat else 0.0,
        # what the load generator itself cost: it shares the machine with the server
        "generator_cpu_us_per_event": round(gen_cpu / acked * 1e6, 2) if acked else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--procs", type=int, default=2, help="load generator processes")
    ap.add_argument("--conns", type=int, default=8, help="connections per process")
    ap.add_argument("--rate", type=float, default=25_000, help="open-loop events/s")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        out: dict[str, Any] = {
            "benchmark": "collect.ingest",
            "cpu_count": os.cpu_count(),
            "batch_events": 100,
            "event_bytes": round(sum(map(len, batch_template(100))) / 100),
            "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
            "log_append_baseline": bench_log(base / "rawlog", args.seconds, 16),
        }
        server = Server(base / "home")
        try:
            cpu0 = server.cpu_s()
            threads0 = server.thread_cpu_s()
            out["closed_loop"] = load(
                server.port,
                server.key,
                seconds=args.seconds,
                procs=args.procs,
                conns=args.conns,
                rate=0,
                tag="c",
            )
            cpu = server.cpu_s() - cpu0
            acked_closed = out["closed_loop"]["acked"]
            # Independent of how busy the machine is: what one event costs the server.
            out["closed_loop"]["server_cpu_us_per_event"] = round(cpu / acked_closed * 1e6, 2)
            out["closed_loop"]["events_per_server_cpu_s"] = round(acked_closed / cpu)
            threads1 = server.thread_cpu_s()
            # The profile: where the server's CPU went, in microseconds per event.
            out["closed_loop"]["server_cpu_us_per_event_by_thread"] = {
                k: round((v - threads0.get(k, 0.0)) / acked_closed * 1e6, 2)
                for k, v in sorted(threads1.items(), key=lambda kv: -kv[1])
                if v - threads0.get(k, 0.0) > 0
            }
            out["open_loop"] = load(
                server.port,
                server.key,
                seconds=args.seconds,
                procs=args.procs,
                conns=args.conns * 2,
                rate=args.rate,
                tag="o",
            )
            out["open_loop"]["target_events_per_s"] = args.rate
        finally:
            server.stop()
        state = server.log_state()
        acked = out["closed_loop"]["acked"] + out["open_loop"]["acked"]
        out["durable"] = {**state, "acked": acked, "all_acked_stored": state["stored"] >= acked}
        out["ratio_http_to_log"] = round(
            out["closed_loop"]["events_per_s_acked"] / out["log_append_baseline"]["records_per_s"],
            3,
        )
        out["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
