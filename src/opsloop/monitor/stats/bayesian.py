"""Bayesian read-outs: probability to beat control and expected loss.

Proportions use the conjugate Beta-Binomial model and exact one-dimensional
integrals (no sampling, so results are reproducible); means use the normal
approximation of each arm's posterior under a flat prior, as GrowthBook does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scipy import integrate, stats

from opsloop.monitor.stats.aggregates import Proportion, SampleMean
from opsloop.monitor.stats.results import Estimate


@dataclass(frozen=True, slots=True)
class BayesianResult:
    """Posterior read-out of treatment against control.

    Attributes:
        chance_to_win: P(treatment mean > control mean | data).
        expected_loss: E[max(control − treatment, 0)]: what choosing treatment risks.
        expected_loss_control: E[max(treatment − control, 0)]: what keeping control risks.
        difference: posterior mean and credible interval of treatment − control.
    """

    chance_to_win: float
    expected_loss: float
    expected_loss_control: float
    difference: Estimate


def beta_binomial(
    treatment: Proportion,
    control: Proportion,
    *,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    alpha: float = 0.05,
) -> BayesianResult:
    """Beta-Binomial comparison of two conversion rates.

    Posteriors pᵢ ~ Beta(a + xᵢ, b + nᵢ − xᵢ). With densities f and cdfs F:
    P(p₁ > p₀) = ∫ f₁(t)·F₀(t) dt and, using x·Beta(a, b) = E[p]·Beta(a+1, b),
    E[max(p₀ − p₁, 0)] = ∫ f₁(t)·(E[p₀]·(1 − I_t(a₀+1, b₀)) − t·(1 − F₀(t))) dt.
    Each integral runs over the bulk of the posterior whose density it integrates, so it
    stays accurate for any sample size and any distance between the arms.

    Args:
        treatment: successes and exposures of the treatment arm.
        control: successes and exposures of the control arm.
        prior_alpha: Beta prior a (1 = uniform).
        prior_beta: Beta prior b.
        alpha: 1 − level of the credible interval of the difference.
    """
    a1, b1 = prior_alpha + treatment.sum, prior_beta + treatment.n - treatment.sum
    a0, b0 = prior_alpha + control.sum, prior_beta + control.n - control.sum
    p1, p0 = stats.beta(a1, b1), stats.beta(a0, b0)
    p0_up = stats.beta(a0 + 1.0, b0)
    p1_up = stats.beta(a1 + 1.0, b1)
    m0, m1 = a0 / (a0 + b0), a1 / (a1 + b1)

    def upside(t: float, mean: float, up: Any, dist: Any) -> float:
        # E[max(P − t, 0)] = E[P]·(1 − I_t(a+1, b)) − t·(1 − F(t))
        return mean * float(up.sf(t)) - t * float(dist.sf(t))

    lo1, hi1 = _bulk(p1)
    lo0, hi0 = _bulk(p0)
    win = _quad(lambda t: float(p1.pdf(t) * p0.cdf(t)), lo1, hi1)
    loss_t = _quad(lambda t: float(p1.pdf(t)) * upside(t, m0, p0_up, p0), lo1, hi1)
    loss_c = _quad(lambda t: float(p0.pdf(t)) * upside(t, m1, p1_up, p1), lo0, hi0)
    var = p1.var() + p0.var()
    se = math.sqrt(float(var))
    q = float(stats.norm.ppf(1.0 - alpha / 2.0))
    diff = m1 - m0
    return BayesianResult(
        chance_to_win=min(max(win, 0.0), 1.0),
        expected_loss=max(loss_t, 0.0),
        expected_loss_control=max(loss_c, 0.0),
        difference=Estimate(diff, se, diff - q * se, diff + q * se),
    )


def gaussian(
    treatment: SampleMean | Proportion, control: SampleMean | Proportion, *, alpha: float = 0.05
) -> BayesianResult:
    """Normal-approximation comparison of two means under flat priors.

    Posterior of the difference δ ~ N(d, s²), d = ȳ₁ − ȳ₀, s² = s₁²/n₁ + s₀²/n₀:
    P(δ > 0) = Φ(d/s),  E[max(−δ, 0)] = s·φ(d/s) − d·Φ(−d/s),
    E[max(δ, 0)] = s·φ(d/s) + d·Φ(d/s).

    Args:
        treatment: aggregates of the treatment arm.
        control: aggregates of the control arm.
        alpha: 1 − level of the credible interval.
    """
    d = treatment.mean - control.mean
    var = 0.0
    for arm in (treatment, control):
        var += arm.variance / arm.n if arm.n else math.inf
    s = math.sqrt(var)
    q = float(stats.norm.ppf(1.0 - alpha / 2.0))
    if s == 0.0 or not math.isfinite(s):
        win = 0.5 if d == 0.0 or not math.isfinite(s) else float(d > 0)
        return BayesianResult(win, max(-d, 0.0), max(d, 0.0), Estimate(d, s, d, d))
    z = d / s
    phi = float(stats.norm.pdf(z))
    return BayesianResult(
        chance_to_win=float(stats.norm.cdf(z)),
        expected_loss=s * phi - d * float(stats.norm.cdf(-z)),
        expected_loss_control=s * phi + d * float(stats.norm.cdf(z)),
        difference=Estimate(d, s, d - q * s, d + q * s),
    )


def _bulk(dist: Any) -> tuple[float, float]:
    """The interval holding all but ~2e-15 of a posterior's mass: where the integrand lives."""
    return max(float(dist.ppf(1e-15)), 0.0), min(float(dist.isf(1e-15)), 1.0)


def _quad(f: Callable[[float], float], lo: float, hi: float) -> float:
    value, _ = integrate.quad(f, lo, hi, limit=200, epsabs=1e-14, epsrel=1e-10)
    return float(value)
