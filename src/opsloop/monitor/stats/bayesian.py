"""Bayesian read-outs: probability to beat control and expected loss.

Proportions use the conjugate Beta-Binomial model and exact one-dimensional
integrals (no sampling, so results are reproducible); means use the normal
approximation of each arm's posterior under a flat prior, as GrowthBook does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special, stats

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

    Posteriors pᵢ ~ Beta(a + xᵢ, b + nᵢ − xᵢ) with densities fᵢ and cdfs Fᵢ:
    P(p₁ > p₀) = ∫ f₁(u)·F₀(u) du and, as max(p₀ − p₁, 0) = ∫ 1{p₁ < u < p₀} du,
    E[max(p₀ − p₁, 0)] = ∫ F₁(u)·(1 − F₀(u)) du (and symmetrically for control).
    The integrals are exact up to composite Gauss–Legendre quadrature with panels over
    both posteriors' bulks, so they stay accurate for any sample size and any distance
    between the arms, in a few milliseconds.

    Args:
        treatment: successes and exposures of the treatment arm.
        control: successes and exposures of the control arm.
        prior_alpha: Beta prior a (1 = uniform).
        prior_beta: Beta prior b.
        alpha: 1 − level of the credible interval of the difference.
    """
    a1, b1 = prior_alpha + treatment.sum, prior_beta + treatment.n - treatment.sum
    a0, b0 = prior_alpha + control.sum, prior_beta + control.n - control.sum
    m0, m1 = a0 / (a0 + b0), a1 / (a1 + b1)
    u, w = _nodes((a1, b1), (a0, b0))
    cdf1, cdf0 = special.betainc(a1, b1, u), special.betainc(a0, b0, u)
    win = float(np.sum(w * _pdf(u, a1, b1) * cdf0))
    loss_t = float(np.sum(w * cdf1 * (1.0 - cdf0)))
    loss_c = float(np.sum(w * cdf0 * (1.0 - cdf1)))
    var = m1 * (1.0 - m1) / (a1 + b1 + 1.0) + m0 * (1.0 - m0) / (a0 + b0 + 1.0)
    se = math.sqrt(var)
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


_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
_PANELS = 48


def _bulk(a: float, b: float) -> tuple[float, float]:
    """The interval holding all but ~2e-15 of a Beta(a, b) posterior's mass."""
    return float(special.betaincinv(a, b, 1e-15)), float(special.betainccinv(a, b, 1e-15))


def _nodes(
    first: tuple[float, float], second: tuple[float, float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Composite Gauss–Legendre nodes and weights covering both posteriors' bulks.

    Each bulk gets its own evenly spaced panels, so a narrow posterior next to a wide
    one is resolved as finely as the wide one; a gap between them is one smooth panel.
    """
    lo1, hi1 = _bulk(*first)
    lo0, hi0 = _bulk(*second)
    edges = np.union1d(np.linspace(lo1, hi1, _PANELS + 1), np.linspace(lo0, hi0, _PANELS + 1))
    mid = (edges[1:] + edges[:-1]) / 2.0
    half = (edges[1:] - edges[:-1]) / 2.0
    u = (mid[:, None] + half[:, None] * _GL_X[None, :]).ravel()
    w = (half[:, None] * _GL_W[None, :]).ravel()
    return u, w


def _pdf(t: npt.NDArray[np.float64], a: float, b: float) -> npt.NDArray[np.float64]:
    log = special.xlogy(a - 1.0, t) + special.xlog1py(b - 1.0, -t) - special.betaln(a, b)
    return np.asarray(np.exp(log), dtype=np.float64)
