"""Uplift models on Hillstrom: Qini/AUUC on a held-out split for each e-mail arm and outcome.

Loads ../shared/datasets/hillstrom into an in-memory warehouse, runs ``uplift_report``
(T-learner and class transformation, 30 % held out, seed 0) for Mens and Womens vs
No E-Mail on visit and conversion, and prints one JSON object with the figures and the
time each report took (fit + evaluation).

    .venv/bin/python -m bench uplift [--seed 0] [--test-share 0.3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from opsloop.datasets import hillstrom
from opsloop.monitor.uplift.service import uplift_report
from opsloop.warehouse import Warehouse

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "hillstrom"
SMALL: list[str] = []


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-share", type=float, default=0.3)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    wh = Warehouse.open(":memory:")
    wh.replace_tables(hillstrom.build(args.data), dataset="hillstrom")
    rows = []
    for arm in ("Mens E-Mail", "Womens E-Mail"):
        for outcome in ("visit", "conversion"):
            t0 = time.perf_counter()
            r = uplift_report(
                wh=wh,
                dataset="hillstrom",
                treatment=arm,
                control="No E-Mail",
                outcome=outcome,
                test_share=args.test_share,
                seed=args.seed,
            )
            rows.append(
                {
                    "arm": arm,
                    "outcome": outcome,
                    "train": r["train"],
                    "test": r["test"],
                    "test_ate": round(r["test_ate"], 5),
                    "seconds": round(time.perf_counter() - t0, 2),
                    "methods": {
                        m["method"]: {
                            k: round(m[k], 4) for k in ("qini_coefficient", "auuc", "uplift_at_k")
                        }
                        for m in r["methods"]
                    },
                }
            )
    wh.close()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return {
        "benchmark": "monitor.uplift",
        "k": 0.3,
        "seed": args.seed,
        "loadavg": load,
        "reports": rows,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
