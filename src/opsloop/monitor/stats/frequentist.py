"""Fixed-horizon tests: Welch's t-test for means, the two-proportion z-test.

Both take aggregates of the two arms and return the absolute difference and the
relative uplift (delta method), each with a confidence interval.
"""

from __future__ import annotations

import math

from scipy import stats

from opsloop.monitor.stats.aggregates import Proportion, SampleMean
from opsloop.monitor.stats.results import Comparison, Estimate


def _interval(value: float, se: float, quantile: float) -> Estimate:
    return Estimate(value, se, value - quantile * se, value + quantile * se)


def _two_sided_p(statistic: float, df: float) -> float:
    if math.isnan(statistic):
        return math.nan
    if math.isinf(df):
        return float(2.0 * stats.norm.sf(abs(statistic)))
    return float(2.0 * stats.t.sf(abs(statistic), df))


def _ratio(num: float, den: float) -> float:
    if num == 0.0 and den == 0.0:
        return 0.0  # no variation and no difference: no evidence (p = 1)
    if den == 0.0:
        return math.nan if num == 0.0 else math.copysign(math.inf, num)
    return num / den


def relative_uplift(
    m1: float, var1: float, n1: int, m0: float, var0: float, n0: int
) -> tuple[float, float]:
    """Relative uplift and its delta-method standard error.

    r = m₁/m₀ − 1,  Var(r) ≈ s₁²/(n₁·m₀²) + m₁²·s₀²/(n₀·m₀⁴)

    Args:
        m1: treatment mean. var1: treatment variance. n1: treatment size.
        m0: control mean. var0: control variance. n0: control size.

    Returns:
        ``(r, se(r))``; ``nan`` when the control mean is 0.
    """
    if m0 == 0.0 or n1 == 0 or n0 == 0:
        return math.nan, math.nan
    var = var1 / (n1 * m0**2) + m1**2 * var0 / (n0 * m0**4)
    return m1 / m0 - 1.0, math.sqrt(var)


def welch_ttest(treatment: SampleMean, control: SampleMean, *, alpha: float = 0.05) -> Comparison:
    """Welch's unequal-variance t-test of the difference of means.

    d = ȳ₁ − ȳ₀,  se = √(s₁²/n₁ + s₀²/n₀),  t = d/se,
    ν = se⁴ / ((s₁²/n₁)²/(n₁−1) + (s₀²/n₀)²/(n₀−1))  (Welch–Satterthwaite),
    CI = d ± t₁₋α/₂,ν · se. The relative uplift uses the same ν with the delta-method se.

    Args:
        treatment: aggregates of the treatment arm.
        control: aggregates of the control arm.
        alpha: 1 − confidence level of the intervals.

    Returns:
        The comparison; p-value from the t distribution with ν degrees of freedom.
    """
    v1 = treatment.variance / treatment.n if treatment.n else math.nan
    v0 = control.variance / control.n if control.n else math.nan
    se = math.sqrt(v1 + v0)
    denom = (v1**2 / (treatment.n - 1) if treatment.n > 1 else math.nan) + (
        v0**2 / (control.n - 1) if control.n > 1 else math.nan
    )
    df = _ratio((v1 + v0) ** 2, denom)
    if math.isnan(df):
        df = math.inf
    diff = treatment.mean - control.mean
    statistic = _ratio(diff, se)
    q = float(stats.t.ppf(1.0 - alpha / 2.0, df)) if math.isfinite(df) else _z(alpha)
    rel, rel_se = relative_uplift(
        treatment.mean, treatment.variance, treatment.n, control.mean, control.variance, control.n
    )
    return Comparison(
        difference=_interval(diff, se, q),
        relative=_interval(rel, rel_se, q),
        statistic=statistic,
        p_value=_two_sided_p(statistic, df),
        df=df,
    )


def two_proportion_ztest(
    treatment: Proportion, control: Proportion, *, alpha: float = 0.05
) -> Comparison:
    """Two-proportion z-test (pooled under H₀) with a Wald interval (unpooled).

    d = p̂₁ − p̂₀,  p̄ = (x₁ + x₀)/(n₁ + n₀),  z = d / √(p̄(1−p̄)(1/n₁ + 1/n₀)),
    CI = d ± z₁₋α/₂ · √(p̂₁(1−p̂₁)/n₁ + p̂₀(1−p̂₀)/n₀). The relative uplift is p̂₁/p̂₀ − 1
    with the delta-method se.

    Args:
        treatment: successes and exposures of the treatment arm.
        control: successes and exposures of the control arm.
        alpha: 1 − confidence level of the intervals.

    Returns:
        The comparison with ``df = inf``.
    """
    n1, n0 = treatment.n, control.n
    diff = treatment.mean - control.mean
    pooled = _ratio(treatment.sum + control.sum, n1 + n0)
    se_null = math.sqrt(pooled * (1.0 - pooled) * (_ratio(1.0, n1) + _ratio(1.0, n0)))
    se = math.sqrt(_ratio(treatment.variance, n1) + _ratio(control.variance, n0))
    statistic = _ratio(diff, se_null)
    q = _z(alpha)
    rel, rel_se = relative_uplift(
        treatment.mean, treatment.variance, n1, control.mean, control.variance, n0
    )
    return Comparison(
        difference=_interval(diff, se, q),
        relative=_interval(rel, rel_se, q),
        statistic=statistic,
        p_value=_two_sided_p(statistic, math.inf),
        df=math.inf,
    )


def mean_interval(sample: SampleMean | Proportion, *, alpha: float = 0.05) -> Estimate:
    """Interval for one arm's mean: ȳ ± q · s/√n (t with n−1 df for means, z for proportions).

    Args:
        sample: the arm's aggregates.
        alpha: 1 − confidence level.
    """
    se = math.sqrt(_ratio(sample.variance, sample.n)) if sample.n else math.nan
    if isinstance(sample, SampleMean) and sample.n > 1:
        q = float(stats.t.ppf(1.0 - alpha / 2.0, sample.n - 1))
    else:
        q = _z(alpha)
    return _interval(sample.mean, se, q)


def _z(alpha: float) -> float:
    return float(stats.norm.ppf(1.0 - alpha / 2.0))
