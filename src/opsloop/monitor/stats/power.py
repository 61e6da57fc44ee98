"""Power and sample size before an experiment starts.

Power is for a two-sided test of a difference of means (z or Welch-like t) or of
proportions (null variance pooled, alternative unpooled: the z-test of
:mod:`.frequentist`). ``ratio`` is control exposures per treatment exposure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

from scipy import optimize, stats

from opsloop.errors import InvalidInputError

Dist = Literal["normal", "t"]


def power_means(
    *,
    n_treatment: float,
    effect: float,
    sd: float,
    alpha: float = 0.05,
    ratio: float = 1.0,
    dist: Dist = "normal",
) -> float:
    """Power of the two-sided test of a difference of means δ with common sd σ.

    With n_eff = n₁n₀/(n₁ + n₀) and λ = (δ/σ)·√n_eff:
    normal: 1 − β = Φ(λ − z₁₋α/₂) + Φ(−λ − z₁₋α/₂);
    t: 1 − β = P(T' > t_c) + P(T' < −t_c), T' noncentral t(ν = n₁ + n₀ − 2, λ).

    Args:
        n_treatment: exposures in the treatment arm (n₁); control has ``ratio``·n₁.
        effect: the true difference δ in metric units.
        sd: the metric's standard deviation σ.
        alpha: two-sided significance level.
        ratio: n₀/n₁.
        dist: ``"normal"`` (large samples) or ``"t"`` (exact for the pooled t-test).
    """
    if sd <= 0 or n_treatment <= 0 or ratio <= 0:
        raise InvalidInputError("sd, n_treatment and ratio must be positive", where="power")
    n0 = n_treatment * ratio
    lam = effect / sd * math.sqrt(n_treatment * n0 / (n_treatment + n0))
    if dist == "normal":
        z = float(stats.norm.isf(alpha / 2.0))
        return float(stats.norm.sf(z - lam) + stats.norm.cdf(-z - lam))
    df = n_treatment + n0 - 2.0
    tc = float(stats.t.isf(alpha / 2.0, df))
    upper = float(stats.nct.sf(tc, df, lam))
    lower = float(stats.nct.cdf(-tc, df, lam))
    # SciPy's noncentral t returns nan deep in a tail; there the normal tail is ~0 as well.
    if math.isnan(upper):
        upper = float(stats.norm.sf(tc - lam))
    if math.isnan(lower):
        lower = float(stats.norm.cdf(-tc - lam))
    return upper + lower


def sample_size_means(
    *,
    effect: float,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    dist: Dist = "normal",
) -> float:
    """Treatment exposures n₁ that reach ``power`` (control gets ``ratio``·n₁).

    Starts from n₁ ≈ (z₁₋α/₂ + z₁₋β)²·σ²·(1 + 1/ratio)/δ² and solves :func:`power_means`
    exactly (both tails, t if asked). Round up for a plan.

    Args:
        effect: the smallest difference δ worth detecting.
        sd: the metric's standard deviation σ.
        alpha: two-sided significance level.
        power: wanted 1 − β.
        ratio: n₀/n₁.
        dist: ``"normal"`` or ``"t"``.
    """
    if effect == 0:
        raise InvalidInputError("effect must be non-zero", where="effect")
    guess = _normal_guess(abs(effect) / sd, alpha, power, ratio)

    def gap(n: float) -> float:
        return (
            power_means(n_treatment=n, effect=effect, sd=sd, alpha=alpha, ratio=ratio, dist=dist)
            - power
        )

    return _solve(gap, guess)


def power_proportions(
    *,
    n_treatment: float,
    p_control: float,
    p_treatment: float,
    alpha: float = 0.05,
    ratio: float = 1.0,
) -> float:
    """Power of the two-proportion z-test.

    With d = p₁ − p₀, p̄ = (p₁ + ratio·p₀)/(1 + ratio), σ₀² = p̄(1−p̄)(1 + 1/ratio),
    σ₁² = p₁(1−p₁) + p₀(1−p₀)/ratio and λ = d·√n₁/σ₁:
    1 − β = Φ(λ − z₁₋α/₂·σ₀/σ₁) + Φ(−λ − z₁₋α/₂·σ₀/σ₁).

    Args:
        n_treatment: exposures in the treatment arm (n₁); control has ``ratio``·n₁.
        p_control: baseline rate p₀.
        p_treatment: rate under treatment p₁.
        alpha: two-sided significance level.
        ratio: n₀/n₁.
    """
    for name, p in (("p_control", p_control), ("p_treatment", p_treatment)):
        if not 0.0 < p < 1.0:
            raise InvalidInputError(f"{name} must be in (0, 1)", where=name)
    d = p_treatment - p_control
    pbar = (p_treatment + ratio * p_control) / (1.0 + ratio)
    s0 = math.sqrt(pbar * (1.0 - pbar) * (1.0 + 1.0 / ratio))
    s1 = math.sqrt(p_treatment * (1.0 - p_treatment) + p_control * (1.0 - p_control) / ratio)
    z = float(stats.norm.isf(alpha / 2.0))
    lam = d * math.sqrt(n_treatment) / s1
    return float(stats.norm.sf(z * s0 / s1 - lam) + stats.norm.cdf(-z * s0 / s1 - lam))


def sample_size_proportions(
    *,
    p_control: float,
    p_treatment: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """Treatment exposures n₁ for the two-proportion z-test to reach ``power``.

    Solves :func:`power_proportions` = 1 − β for n₁ (see there for the formula).

    Args:
        p_control: baseline rate p₀.
        p_treatment: rate under treatment p₁ (≠ p₀).
        alpha: two-sided significance level.
        power: wanted 1 − β.
        ratio: n₀/n₁.
    """
    if p_control == p_treatment:
        raise InvalidInputError("p_treatment must differ from p_control", where="p_treatment")
    sd = math.sqrt(p_control * (1.0 - p_control))
    guess = _normal_guess(abs(p_treatment - p_control) / sd, alpha, power, ratio)

    def gap(n: float) -> float:
        return (
            power_proportions(
                n_treatment=n,
                p_control=p_control,
                p_treatment=p_treatment,
                alpha=alpha,
                ratio=ratio,
            )
            - power
        )

    return _solve(gap, guess)


def minimum_detectable_effect(
    *, n_treatment: float, sd: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Smallest difference of means detectable with ``power`` (normal approximation).

    MDE ≈ (z₁₋α/₂ + z₁₋β)·σ·√(1/n₁ + 1/n₀), refined so :func:`power_means` = 1 − β exactly.

    Args:
        n_treatment: exposures in the treatment arm; control has ``ratio``·n₁.
        sd: the metric's standard deviation σ.
        alpha: two-sided significance level.
        power: wanted 1 − β.
        ratio: n₀/n₁.
    """
    z = float(stats.norm.isf(alpha / 2.0) + stats.norm.isf(1.0 - power))
    guess = z * sd * math.sqrt(1.0 / n_treatment + 1.0 / (ratio * n_treatment))

    def gap(effect: float) -> float:
        return power_means(n_treatment=n_treatment, effect=effect, sd=sd, alpha=alpha, ratio=ratio)

    return float(
        optimize.brentq(lambda e: gap(e) - power, guess * 0.5, guess * 2.0, xtol=1e-14, rtol=1e-13)
    )


def _normal_guess(effect_size: float, alpha: float, power: float, ratio: float) -> float:
    z = float(stats.norm.isf(alpha / 2.0) + stats.norm.isf(1.0 - power))
    return z * z * (1.0 + 1.0 / ratio) / (effect_size * effect_size)


def _solve(gap: Callable[[float], float], guess: float) -> float:
    # Power rises with n: bracket the root around the normal-approximation guess.
    lo, hi = max(guess / 4.0, 2.0 + 1e-9), guess * 4.0 + 10.0
    return float(optimize.brentq(gap, lo, hi, xtol=1e-10, rtol=1e-13))
