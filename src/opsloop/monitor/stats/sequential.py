"""Sequential testing: intervals and p-values that stay valid however often you peek.

We use GrowthBook's approach: the asymptotic confidence sequence of Waudby-Smith,
Arnold, Wu, Howard & Ramdas (2023, "Time-uniform central limit theory", eq. 161),
which is Robbins' two-sided normal-mixture boundary (Howard et al. 2021, eq. 14,
u(v) = √((v + ρ_H)·log((v + ρ_H)/(ρ_H·α²))) with intrinsic time v = σ²n) with σ
estimated from the data. The mixing precision ρ is tuned so the sequence is tightest
near a planned sample size N*. The always-valid p-value is the α at which the
sequence first touches 0 (the mixture SPRT statistic 1/Λₙ of Johari et al. 2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opsloop.monitor.stats.results import Comparison, Estimate

DEFAULT_TUNING = 5000.0


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """Always-valid read-out: intervals that cover at every look, and its p-value."""

    difference: Estimate
    relative: Estimate
    p_value: float


def sequential_rho(alpha: float, tuning: float = DEFAULT_TUNING) -> float:
    """Mixing parameter ρ that makes the sequence tightest at ``tuning`` exposures.

    ρ = √((−2·log α + log(1 − 2·log α)) / N*)

    Args:
        alpha: the error rate the sequence controls over all looks.
        tuning: N*, the total sample size where the sequence should be tightest.
    """
    la = -2.0 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1.0)) / tuning)


def halfwidth(se: float, n: int, *, alpha: float = 0.05, tuning: float = DEFAULT_TUNING) -> float:
    """Half-width of the asymptotic confidence sequence around an estimate.

    With s² = n·se² (per-exposure variance of the estimate) and ρ from
    :func:`sequential_rho`: h = s·√(2(nρ² + 1)/(n²ρ²) · log(√(nρ² + 1)/α)).

    Args:
        se: the fixed-horizon standard error of the estimate.
        n: total exposures behind it (all arms compared).
        alpha: error rate over all looks.
        tuning: N* for :func:`sequential_rho`.
    """
    rho2 = sequential_rho(alpha, tuning) ** 2
    s2 = se * se * n
    return math.sqrt(
        s2 * 2.0 * (n * rho2 + 1.0) / (n * n * rho2) * math.log(math.sqrt(n * rho2 + 1.0) / alpha)
    )


def always_valid_p(
    estimate: float, se: float, n: int, *, alpha: float = 0.05, tuning: float = DEFAULT_TUNING
) -> float:
    """Always-valid p-value: the level at which the sequence just reaches 0.

    p = min(1, √(nρ² + 1) · exp(−d²·n²ρ² / (2s²(nρ² + 1)))), with ρ fixed by ``alpha`` so
    that p < α exactly when the sequence at ``alpha`` excludes 0.

    Args:
        estimate: the effect estimate d.
        se: its fixed-horizon standard error.
        n: total exposures behind it.
        alpha: design error rate (fixes ρ).
        tuning: N* for :func:`sequential_rho`.
    """
    if se <= 0.0 or n <= 0 or math.isnan(estimate):
        return math.nan
    rho2 = sequential_rho(alpha, tuning) ** 2
    s2 = se * se * n
    log_p = 0.5 * math.log(n * rho2 + 1.0) - estimate**2 * n * n * rho2 / (
        2.0 * s2 * (n * rho2 + 1.0)
    )
    return min(1.0, math.exp(log_p))


def sequential(
    comparison: Comparison, n: int, *, alpha: float = 0.05, tuning: float = DEFAULT_TUNING
) -> SequentialResult:
    """Turn a fixed-horizon comparison into an always-valid one.

    Both the absolute difference and the relative uplift keep their estimates and get
    the interval d ± h(se, n) of :func:`halfwidth`; the p-value is :func:`always_valid_p`.

    Args:
        comparison: output of a Welch, z or CUPED comparison.
        n: total exposures of the two arms compared.
        alpha: error rate controlled over all looks.
        tuning: N*, the planned total sample size.
    """

    def widen(e: Estimate) -> Estimate:
        if n <= 0 or not math.isfinite(e.se):
            return Estimate(e.value, e.se, math.nan, math.nan)
        h = halfwidth(e.se, n, alpha=alpha, tuning=tuning)
        return Estimate(e.value, e.se, e.value - h, e.value + h)

    d = comparison.difference
    return SequentialResult(
        difference=widen(d),
        relative=widen(comparison.relative),
        p_value=always_valid_p(d.value, d.se, n, alpha=alpha, tuning=tuning),
    )
