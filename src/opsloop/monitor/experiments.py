"""Experiment read-out: one aggregate query per experiment, then pure statistics.

The warehouse reduces an exposure table (one row per exposed unit: arm, metric
values, optional pre-period values) to sums per arm in a single Ibis query; every
number in :class:`ExperimentResult` is then computed from those sums by
:mod:`opsloop.monitor.stats`, so the same code serves 1,000 or 100 million exposures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import ibis
import pyarrow as pa

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.monitor.stats.aggregates import Paired, Proportion, SampleMean
from opsloop.monitor.stats.bayesian import BayesianResult, beta_binomial, gaussian
from opsloop.monitor.stats.cuped import cuped_arms, variance_reduction
from opsloop.monitor.stats.frequentist import mean_interval, two_proportion_ztest, welch_ttest
from opsloop.monitor.stats.results import Comparison, Estimate
from opsloop.monitor.stats.sequential import SequentialResult, sequential
from opsloop.monitor.stats.srm import SrmResult, srm_check
from opsloop.warehouse import Warehouse

MetricKind = Literal["mean", "proportion"]


@dataclass(frozen=True, slots=True)
class Metric:
    """A metric column of the exposure table.

    Attributes:
        column: the metric's column; null counts as 0 (exposed, did not act).
        kind: ``"proportion"`` reads the share of units with a value > 0 (z-test,
            Beta-Binomial); ``"mean"`` reads the mean (Welch, normal posterior).
        pre_column: the same metric measured before exposure, for CUPED.
    """

    column: str
    kind: MetricKind = "mean"
    pre_column: str | None = None


@dataclass(frozen=True, slots=True)
class ArmMetric:
    """One arm's read-out of one metric; comparison fields are ``None`` for control."""

    arm: str
    n: int
    mean: Estimate
    vs_control: Comparison | None
    bayesian: BayesianResult | None
    sequential: SequentialResult | None = None
    cuped_mean: float | None = None
    cuped: Comparison | None = None
    cuped_bayesian: BayesianResult | None = None


@dataclass(frozen=True, slots=True)
class MetricResult:
    """All arms of one metric, with the CUPED slope and variance reduction if used."""

    metric: str
    kind: MetricKind
    arms: tuple[ArmMetric, ...]
    theta: float | None = None
    variance_reduction: float | None = None


@dataclass(frozen=True, slots=True)
class ExperimentResult:
    """Everything the monitoring center shows for one experiment."""

    control: str
    exposures: tuple[tuple[str, int], ...]
    srm: SrmResult
    metrics: tuple[MetricResult, ...]
    alpha: float


ArmSums = dict[str, dict[str, float]]


def aggregate_query(table: ibis.Table, *, arm_column: str, metrics: Sequence[Metric]) -> ibis.Table:
    """The one query: per arm, ``n`` and for metric i ``s{i}``, ``q{i}`` (Σy, Σy²; Σy only
    for a proportion) and,
    with a pre-period column, ``x{i}``, ``xx{i}``, ``xy{i}`` (Σx, Σx², Σxy).
    """
    cols = set(table.columns)
    for m in metrics:
        for name in (m.column, m.pre_column):
            if name is not None and name not in cols:
                raise NotFoundError(f"column {name!r} is not in the table", where="metrics")
    if arm_column not in cols:
        raise NotFoundError(f"column {arm_column!r} is not in the table", where="arm_column")
    aggs: dict[str, ibis.Expr] = {"n": table.count()}
    # Nulls drop out of every sum, which is the same as counting them as 0.
    for i, m in enumerate(metrics):
        y = table[m.column].cast("float64")
        if m.kind == "proportion":
            y = (table[m.column] > 0).cast("int64")
            aggs[f"s{i}"] = y.sum()  # Σy² = Σy for 0/1: one sum suffices
        else:
            aggs[f"s{i}"] = y.sum()
            aggs[f"q{i}"] = (y * y).sum()
        if m.pre_column is not None:
            x = table[m.pre_column].cast("float64")
            aggs[f"x{i}"] = x.sum()
            aggs[f"xx{i}"] = (x * x).sum()
            aggs[f"xy{i}"] = (x * y).sum()
    return table.group_by(arm=table[arm_column].cast("string")).aggregate(**aggs)


def sums_by_arm(result: pa.Table) -> ArmSums:
    """Arrow result of :func:`aggregate_query` → ``{arm: {column: value}}``."""
    rows = result.to_pylist()
    return {str(r["arm"]): {k: float(v or 0.0) for k, v in r.items() if k != "arm"} for r in rows}


def analyse(
    sums: ArmSums,
    *,
    control: str,
    metrics: Sequence[Metric],
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    sequential_tuning: float | None = None,
) -> ExperimentResult:
    """Statistics for every arm and metric from the per-arm sums (pure, no warehouse).

    Args:
        sums: output of :func:`sums_by_arm`.
        control: the control arm's name.
        metrics: the metrics, in the order of the query.
        planned_split: planned weight per arm for the SRM check (default: equal).
        alpha: 1 − confidence level of every interval.
        sequential_tuning: if set, also give always-valid intervals tuned for this many
            total exposures per comparison (see :mod:`.stats.sequential`).
    """
    if control not in sums:
        raise NotFoundError(f"control arm {control!r} has no exposures", where="control")
    arms = [control, *sorted(a for a in sums if a != control)]
    n = {a: int(sums[a]["n"]) for a in arms}
    weights = [
        float((planned_split or {}).get(a, 1.0 if planned_split is None else 0.0)) for a in arms
    ]
    if planned_split is not None and any(w <= 0 for w in weights):
        raise InvalidInputError(
            "planned_split needs a positive weight for every arm", where="planned_split"
        )
    srm = srm_check([n[a] for a in arms], weights)
    results = tuple(
        _metric(sums, arms, i, m, alpha=alpha, tuning=sequential_tuning)
        for i, m in enumerate(metrics)
    )
    return ExperimentResult(control, tuple((a, n[a]) for a in arms), srm, results, alpha)


def experiment_results(
    *,
    wh: Warehouse,
    table: str,
    dataset: str | None = None,
    control: str,
    metrics: Sequence[Metric | str],
    arm_column: str = "arm",
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    sequential_tuning: float | None = None,
) -> ExperimentResult:
    """Read out an experiment from its exposure table with one warehouse query.

    Args:
        wh: the warehouse.
        table: exposure table, one row per exposed unit.
        dataset: the table's dataset (default: the warehouse's default).
        control: the control arm's name.
        metrics: metrics to read; a bare column name is a ``"mean"`` metric.
        arm_column: the column naming each unit's arm.
        planned_split: planned weight per arm for the SRM check (default: equal).
        alpha: 1 − confidence level.
        sequential_tuning: planned total exposures for always-valid intervals, or None.
    """
    specs = [Metric(m) if isinstance(m, str) else m for m in metrics]
    if not specs:
        raise InvalidInputError("name at least one metric", where="metrics")
    expr = aggregate_query(wh.table(table, dataset=dataset), arm_column=arm_column, metrics=specs)
    return analyse(
        sums_by_arm(wh.execute(expr)),
        control=control,
        metrics=specs,
        planned_split=planned_split,
        alpha=alpha,
        sequential_tuning=sequential_tuning,
    )


def _metric(
    sums: ArmSums, arms: list[str], i: int, m: Metric, *, alpha: float, tuning: float | None
) -> MetricResult:
    samples: dict[str, SampleMean | Proportion] = {}
    for a in arms:
        s = sums[a]
        if m.kind == "proportion":
            samples[a] = Proportion(int(s["n"]), s[f"s{i}"])
        else:
            samples[a] = SampleMean(int(s["n"]), s[f"s{i}"], s[f"q{i}"])
    adjusted: dict[str, SampleMean] = {}
    theta = reduction = None
    if m.pre_column is not None:
        q = "q" if m.kind == "mean" else "s"
        pairs = [
            Paired(
                int(sums[a]["n"]),
                sums[a][f"s{i}"],
                sums[a][f"{q}{i}"],
                sums[a][f"x{i}"],
                sums[a][f"xx{i}"],
                sums[a][f"xy{i}"],
            )
            for a in arms
        ]
        theta, adj = cuped_arms(pairs)
        adjusted = dict(zip(arms, adj, strict=True))
        reduction = variance_reduction(pairs[0], theta)
    control = samples[arms[0]]
    rows = []
    for a in arms:
        sample = samples[a]
        row = ArmMetric(
            arm=a,
            n=sample.n,
            mean=mean_interval(sample, alpha=alpha),
            vs_control=None,
            bayesian=None,
            cuped_mean=adjusted[a].mean if adjusted else None,
        )
        if a != arms[0]:
            row = _compare(row, sample, control, adjusted, arms[0], alpha=alpha, tuning=tuning)
        rows.append(row)
    return MetricResult(m.column, m.kind, tuple(rows), theta, reduction)


def _compare(
    row: ArmMetric,
    sample: SampleMean | Proportion,
    control: SampleMean | Proportion,
    adjusted: dict[str, SampleMean],
    control_arm: str,
    *,
    alpha: float,
    tuning: float | None,
) -> ArmMetric:
    if isinstance(sample, Proportion) and isinstance(control, Proportion):
        cmp = two_proportion_ztest(sample, control, alpha=alpha)
        bayes = beta_binomial(sample, control, alpha=alpha)
    elif isinstance(sample, SampleMean) and isinstance(control, SampleMean):
        cmp = welch_ttest(sample, control, alpha=alpha)
        bayes = gaussian(sample, control, alpha=alpha)
    else:  # pragma: no cover - _metric builds both arms of one kind
        raise TypeError("treatment and control aggregates differ in kind")
    total = sample.n + control.n
    seq = sequential(cmp, total, alpha=alpha, tuning=tuning) if tuning else None
    cuped_cmp = cuped_bayes = None
    if adjusted:
        t, c = adjusted[row.arm], adjusted[control_arm]
        cuped_cmp = welch_ttest(t, c, alpha=alpha)
        cuped_bayes = gaussian(t, c, alpha=alpha)
    return ArmMetric(
        arm=row.arm,
        n=row.n,
        mean=row.mean,
        vs_control=cmp,
        bayesian=bayes,
        sequential=seq,
        cuped_mean=row.cuped_mean,
        cuped=cuped_cmp,
        cuped_bayesian=cuped_bayes,
    )
