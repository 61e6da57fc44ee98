"""The trainable tasks: each builds its features in the warehouse, fits LightGBM,
measures it on data it did not see, and (for customer models) scores today's customers.

Splits: churn and propensity train on earlier cutoffs and are measured on a later one
whose label window was never seen (a time split); bank-marketing is measured both on
a stratified held-out 20% and on the last 20% of calls by date; Berka (682 loans) by
5-fold cross-validation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from sklearn.model_selection import train_test_split

from opsloop.errors import InvalidInputError
from opsloop.insight.models import features as feats
from opsloop.insight.models.learner import FittedModel, cross_validated, fit, holdout
from opsloop.insight.models.metrics import Metrics
from opsloop.insight.models.scores import reasons, write_scores
from opsloop.warehouse import Warehouse

TASKS = ("churn", "propensity", "bank-marketing", "berka-default")
CUSTOMER_FEATURES = [
    f
    for f in feats.SNAPSHOT_FEATURES
    if f not in ("city", "occupation", "gender", "acquisition_channel")
]
SMALL = {"num_leaves": 7, "min_child_samples": 50}


@dataclass(frozen=True)
class TrainReport:
    """What was trained, how it was measured, what mattered, what was written."""

    task: str
    split: str
    metrics: dict[str, Metrics]
    importance: dict[str, float]
    rows: int
    scored: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "split": self.split,
            "rows": self.rows,
            "metrics": {k: m.as_dict() for k, m in self.metrics.items()},
            "importance": self.importance,
            "scored": self.scored,
            "notes": self.notes,
        }


def _y(fs: feats.FeatureSet) -> np.ndarray:
    return np.asarray(fs.table[fs.label].to_numpy(zero_copy_only=False), dtype=np.int8)


def data_end(wh: Warehouse, dataset: str | None = None) -> dt.date:
    """The day after the last transaction: the first day with no data yet."""
    tx = wh.table("transactions", dataset=dataset)
    last = wh.execute(tx.ts.max().name("m").as_table()).column(0)[0].as_py()
    if last is None:
        raise InvalidInputError("no transactions in the dataset", where="dataset")
    return dt.date(last.year, last.month, last.day) + dt.timedelta(days=1)


def train(
    task: str,
    *,
    wh: Warehouse,
    dataset: str | None = None,
    write: bool = True,
    horizon_days: int | None = None,
    now: dt.datetime | None = None,
) -> tuple[TrainReport, FittedModel]:
    """Train ``task`` (one of :data:`TASKS`); customer models also write ``model_scores``."""
    if task in ("churn", "propensity"):
        return _customer_task(
            task, wh=wh, dataset=dataset, write=write,
            horizon=horizon_days or (30 if task == "churn" else 60),
            now=now or dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )  # fmt: skip
    if task == "bank-marketing":
        return _bank_marketing(wh, dataset or "bank_marketing")
    if task == "berka-default":
        return _berka(wh, dataset or "berka")
    raise InvalidInputError(f"unknown task {task!r}; one of {', '.join(TASKS)}", where="task")


def _customer_task(
    task: str, *, wh: Warehouse, dataset: str | None, write: bool, horizon: int, now: dt.datetime
) -> tuple[TrainReport, FittedModel]:
    build = feats.churn if task == "churn" else feats.propensity
    end = data_end(wh, dataset)
    test_cut = end - dt.timedelta(days=horizon)
    train_cuts = [test_cut - dt.timedelta(days=horizon * k) for k in (1, 2)]
    parts = [build(wh, cutoff=c, horizon_days=horizon, dataset=dataset) for c in train_cuts]
    test = build(wh, cutoff=test_cut, horizon_days=horizon, dataset=dataset)
    train_t = pa.concat_tables([p.table for p in parts])
    y_train = np.concatenate([_y(p) for p in parts])
    _, metrics = holdout(
        train_t, y_train, test.table, _y(test), CUSTOMER_FEATURES, params=SMALL, rounds=200
    )
    # Deploy: refit with the test period included, score everyone as of the data end.
    final = fit(
        pa.concat_tables([train_t, test.table]),
        np.concatenate([y_train, _y(test)]),
        CUSTOMER_FEATURES, params=SMALL, rounds=200,
    )  # fmt: skip
    scored = 0
    if write:
        now_t = feats.customers_at(wh, cutoff=end, dataset=dataset)
        score = final.predict(now_t)
        why = reasons(final.contributions(now_t), CUSTOMER_FEATURES, now_t)
        ids = now_t["customer_id"].to_numpy()
        scored = write_scores(
            wh=wh, model=task, customer_id=ids, score=score, reasons=why, scored_at=now,
            dataset=dataset,
        )  # fmt: skip
    split = (
        f"time: train cutoffs {', '.join(str(c) for c in train_cuts)}, "
        f"test cutoff {test_cut}, label window {horizon} days"
    )
    report = TrainReport(
        task, split, {"test": metrics}, _top(final), train_t.num_rows + test.table.num_rows, scored
    )
    return report, final


def _bank_marketing(wh: Warehouse, dataset: str) -> tuple[TrainReport, FittedModel]:
    fs = feats.bank_marketing(wh, dataset=dataset)
    y = _y(fs)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=0.2, stratify=y, random_state=7)
    model, random_m = holdout(fs.table.take(tr), y[tr], fs.table.take(te), y[te], fs.features)
    cut = int(len(y) * 0.8)  # rows are in call-date order
    _, time_m = holdout(fs.table.slice(0, cut), y[:cut], fs.table.slice(cut), y[cut:], fs.features)
    notes = [
        "duration is excluded: it is known only after the call",
        f"time split: the last 20% of calls have base rate {time_m.base_rate:.2f} vs "
        f"{float(y[:cut].mean()):.2f} before (the campaign changed over time)",
    ]
    report = TrainReport(
        "bank-marketing", "stratified 80/20 held-out; and last 20% by call date",
        {"holdout": random_m, "time": time_m}, _top(model), len(y), notes=notes,
    )  # fmt: skip
    return report, model


def _berka(wh: Warehouse, dataset: str) -> tuple[TrainReport, FittedModel]:
    fs = feats.berka_default(wh, dataset=dataset)
    y = _y(fs)
    params = {"num_leaves": 7, "min_child_samples": 10}
    metrics, _ = cross_validated(fs.table, y, fs.features, params=params, rounds=200)
    model = fit(fs.table, y, fs.features, params=params, rounds=200)
    report = TrainReport(
        "berka-default", "5-fold stratified cross-validation (pooled out-of-fold scores)",
        {"cv": metrics}, _top(model), len(y),
        notes=["features use only transactions and cards dated strictly before the loan"],
    )  # fmt: skip
    return report, model


def _top(model: FittedModel, n: int = 15) -> dict[str, float]:
    return dict(list(model.importance().items())[:n])


__all__ = ["TASKS", "TrainReport", "data_end", "train"]
