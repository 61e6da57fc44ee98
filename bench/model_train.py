"""Benchmark: churn (or propensity) training on a generated bank of ~1,000,000 customers.

Times each phase of ``opsloop model train`` — feature build in the warehouse (three
cutoffs: two to train on, a later one to test on), LightGBM on the time split, the refit
on everything — and reports held-out ROC AUC, PR AUC and lift at the top decile. The
baseline in the same run is scikit-learn's logistic regression on the same features and
split (standardised, missing values as medians): what a plain linear model scores.
Read-only on the warehouse (nothing is written back).

    .venv/bin/python -m bench model_train --warehouse /tmp/bench-1m/warehouse.duckdb
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

SMALL = ["--warehouse", "", "--task", "churn"]


def main(argv: list[str]) -> dict[str, Any]:
    ap = argparse.ArgumentParser(prog="python -m bench model_train")
    ap.add_argument("--warehouse", default="/tmp/bench-1m/warehouse.duckdb")
    ap.add_argument("--task", choices=("churn", "propensity"), default="churn")
    args = ap.parse_args(argv)
    if not args.warehouse or not Path(args.warehouse).exists():
        return {"skipped": f"no warehouse at {args.warehouse!r} (generate one first)"}

    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from opsloop.insight.models import features as feats
    from opsloop.insight.models.learner import fit, holdout, to_frame
    from opsloop.insight.models.metrics import evaluate
    from opsloop.insight.models.tasks import CUSTOMER_FEATURES, _y, data_end
    from opsloop.insight.models.tasks import SMALL as PARAMS
    from opsloop.warehouse import Warehouse

    wh = Warehouse.open(args.warehouse, read_only=True)
    build = feats.churn if args.task == "churn" else feats.propensity
    horizon = 30 if args.task == "churn" else 60
    load = [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    try:
        end = data_end(wh)
        test_cut = end - dt.timedelta(days=horizon)
        cuts = [test_cut - dt.timedelta(days=horizon * k) for k in (1, 2)]
        t0 = time.perf_counter()
        parts = [build(wh, cutoff=c, horizon_days=horizon) for c in cuts]
        test = build(wh, cutoff=test_cut, horizon_days=horizon)
        feature_s = time.perf_counter() - t0
    finally:
        wh.close()
    train_t = pa.concat_tables([p.table for p in parts])
    y_train = np.concatenate([_y(p) for p in parts])
    y_test = _y(test)
    t0 = time.perf_counter()
    _, metrics = holdout(
        train_t, y_train, test.table, y_test, CUSTOMER_FEATURES, params=PARAMS, rounds=200
    )
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit(
        pa.concat_tables([train_t, test.table]),
        np.concatenate([y_train, y_test]),
        CUSTOMER_FEATURES,
        params=PARAMS,
        rounds=200,
    )
    refit_s = time.perf_counter() - t0

    numeric = [
        f for f in CUSTOMER_FEATURES if to_frame(train_t.slice(0, 10), [f])[f].dtype != "category"
    ]
    t0 = time.perf_counter()
    lr = make_pipeline(
        SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=200)
    )
    lr.fit(to_frame(train_t, numeric).to_numpy(dtype=float), y_train)
    score = lr.predict_proba(to_frame(test.table, numeric).to_numpy(dtype=float))[:, 1]
    baseline_s = time.perf_counter() - t0
    base = evaluate(y_test, score)
    return {
        "benchmark": "insight.model_train",
        "task": args.task,
        "warehouse": args.warehouse,
        "train_rows": train_t.num_rows,
        "test_rows": test.table.num_rows,
        "features": len(CUSTOMER_FEATURES),
        "split": f"time: train cutoffs {cuts[1]}, {cuts[0]}; test cutoff {test_cut}",
        "feature_build_s": round(feature_s, 2),
        "train_holdout_s": round(train_s, 2),
        "refit_all_s": round(refit_s, 2),
        "lightgbm": metrics.as_dict(),
        "baseline_logreg_s": round(baseline_s, 2),
        "baseline_logreg": base.as_dict(),
        "cpus": os.cpu_count(),
        "loadavg_before": load,
        "loadavg_after": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]],
    }
