"""Soak: a steady ingest rate for minutes; does the server's memory stay flat?

Prints one JSON object. Run: ``.venv/bin/python bench/soak.py [--seconds 600]``.
The same server and load generator as ``bench/ingest.py`` (uvicorn in a child
process, open-loop asyncio clients in other processes) at ``--rate`` events/s; the
server's RSS is sampled every ``--every`` seconds. Reported: RSS at the start (after
a warm-up of ``--warmup`` s, when caches, the warehouse and the key cache exist), at the
end, its maximum, the growth per minute by least squares over the samples after the
warm-up, acknowledged vs stored events and the warehouse consumer's lag at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import Job, Server, run_job


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` (all resident memory), ``RssAnon`` (heap) or ``RssFile`` (mapped files)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def rss_parts(pid: int) -> dict[str, float]:
    return {f: round(rss_mb(pid, f), 1) for f in ("RssAnon", "RssFile")}


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of RSS (MB) over time (s), in MB per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx * 60 if sxx else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--rate", type=float, default=5000, help="events/s, steady")
    ap.add_argument("--every", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=30)
    args = ap.parse_args()
    out: dict[str, Any] = {
        "benchmark": "collect.soak",
        "seconds": args.seconds,
        "rate_events_per_s": args.rate,
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp) / "home")
        try:
            job = Job(server.port, server.key, args.seconds, 8, args.rate / 100, "soak")
            with mp.get_context("spawn").Pool(1) as pool:
                pending = pool.apply_async(run_job, (job,))
                t0 = time.monotonic()
                samples: list[tuple[float, float]] = []
                parts: list[tuple[float, dict[str, float]]] = []
                while not pending.ready():
                    now = round(time.monotonic() - t0, 1)
                    samples.append((now, round(rss_mb(server.pid), 1)))
                    parts.append((now, rss_parts(server.pid)))
                    pending.wait(args.every)
                result = pending.get()
            samples.append((round(time.monotonic() - t0, 1), round(rss_mb(server.pid), 1)))
            parts.append((samples[-1][0], rss_parts(server.pid)))
            time.sleep(3)  # let the flusher catch up before the lag is read
        finally:
            server.stop()
        state = server.log_state()
        lat = sorted(result["latencies"])  # type: ignore[arg-type]
        after = [(t, v) for t, v in samples if t >= args.warmup]
        out.update(
            {
                "acked": result["acked"],
                "errors": result["errors"],
                "events_per_s_acked": round(int(result["acked"]) / float(result["elapsed"])),  # type: ignore[call-overload,arg-type]
                "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2) if lat else None,
                "stored": state["stored"],
                "warehouse_lag_events": state["stored"] - state["warehouse_offset"],
                "rss_mb_start": after[0][1] if after else None,
                "rss_mb_end": samples[-1][1],
                "rss_mb_max": max(v for _, v in samples),
                "rss_mb_first_sample": samples[0][1],
                "rss_growth_mb_per_min_after_warmup": round(slope_per_min(after), 3),
                # heap vs mapped files (DuckDB's and the log's pages count as RssFile)
                "rss_parts_start": next((p for t, p in parts if t >= args.warmup), None),
                "rss_parts_end": parts[-1][1],
                "rss_anon_growth_mb_per_min_after_warmup": round(
                    slope_per_min([(t, p["RssAnon"]) for t, p in parts if t >= args.warmup]), 3
                ),
                "samples": samples,
                "loadavg_end": Path("/proc/loadavg").read_text().split()[:3],
            }
        )
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()
