"""Benchmark `generate_bank` against a plain DuckDB load of the same Parquet files.

Runs in a fresh temporary home; reports rows per table, wall time, rows/s, peak RSS
(sampled over this process and its worker processes from /proc, plus getrusage), and
a baseline: ``CREATE TABLE … AS SELECT * FROM read_parquet(...)`` of the same staged
files into a fresh DuckDB file — the floor any loader of those files pays.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SMALL = ["--customers", "20000", "--months", "3"]


def _tree_rss_kb(pid: int) -> int:
    total = 0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                stack.extend(int(k) for k in kids)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


class PeakSampler:
    """Samples the RSS of this process tree every 50 ms; keeps the peak."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(os.getpid()))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench generate")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    import duckdb

    from opsloop.settings import Settings
    from opsloop.synth import generate_bank

    tmp = Path(tempfile.mkdtemp(prefix="opsloop-bench-"))
    try:
        settings = Settings(home=tmp / "home", secret_key="bench-secret")  # type: ignore[arg-type]
        with PeakSampler() as sampler:
            t0 = time.perf_counter()
            result = generate_bank(
                settings=settings, customers=args.customers, months=args.months,
                seed=args.seed, workers=args.workers, keep_staging=True,
            )  # fmt: skip
            wall = time.perf_counter() - t0
        staging = result.staging
        assert staging is not None
        con = duckdb.connect(str(tmp / "baseline.duckdb"))
        con.execute("set enable_progress_bar = false")
        t1 = time.perf_counter()
        for name in result.rows:
            files = sorted(str(f) for f in (staging / name).glob("*.parquet"))
            con.execute(f"create table {name} as select * from read_parquet({files!r})")
        con.close()
        baseline = time.perf_counter() - t1
        staged_bytes = sum(f.stat().st_size for f in staging.rglob("*.parquet"))
        total = sum(result.rows.values())
        return {
            "customers": args.customers,
            "months": args.months,
            "workers": args.workers,
            "rows": result.rows,
            "truth_rows": result.truth_rows,
            "total_rows": total,
            "staged_parquet_mb": round(staged_bytes / 2**20, 1),
            "wall_s": round(wall, 2),
            "rows_per_s": round(total / wall),
            "peak_rss_tree_mb": round(sampler.peak_kb / 1024),
            "maxrss_self_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "maxrss_children_mb": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            ),
            "baseline_duckdb_load_s": round(baseline, 2),
            "ratio_ours_to_baseline": round(wall / baseline, 2),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
