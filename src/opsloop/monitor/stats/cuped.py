"""CUPED: variance reduction with a pre-period covariate (Deng et al., 2013).

θ is the pooled within-arm slope of y on x, so the adjusted difference equals the
treatment coefficient of the OLS regression y ~ 1 + treatment + x exactly; the
adjusted arms are returned as ordinary :class:`SampleMean` aggregates, so every other
test (Welch, Bayesian, sequential) applies to them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

from opsloop.monitor.stats.aggregates import Paired, SampleMean


def cuped_theta(arms: Sequence[Paired]) -> float:
    """Pooled within-arm regression slope of the metric on its pre-period value.

    θ = Σₐ Sxyₐ / Σₐ Sxxₐ,  Sxyₐ = Σxy − Σx·Σy/n,  Sxxₐ = Σx² − (Σx)²/n (per arm a).

    Args:
        arms: the arms' paired aggregates.

    Returns:
        θ; 0 when the covariate has no within-arm variance.
    """
    sxy = sum(a.sum_xy - a.sum_x * a.sum_y / a.n for a in arms if a.n)
    sxx = sum(a.sum_squares_x - a.sum_x * a.sum_x / a.n for a in arms if a.n)
    return sxy / sxx if sxx > 0 else 0.0


def cuped_adjust(arm: Paired, theta: float, x_mean: float) -> SampleMean:
    """Aggregates of the adjusted metric z = y − θ·(x − x̄) for one arm.

    Σz = Σy − θ·Σx + nθx̄,
    Σz² = Σy² − 2θΣxy + θ²Σx² + 2θx̄(Σy − θΣx) + nθ²x̄²

    Args:
        arm: the arm's paired aggregates.
        theta: the slope from :func:`cuped_theta`.
        x_mean: the covariate mean over all arms (keeps the adjusted means on the y scale).
    """
    c = theta * x_mean
    s = arm.sum_y - theta * arm.sum_x
    ss = arm.sum_squares_y - 2.0 * theta * arm.sum_xy + theta**2 * arm.sum_squares_x
    return SampleMean(arm.n, s + arm.n * c, ss + 2.0 * c * s + arm.n * c * c)


def cuped_arms(arms: Sequence[Paired]) -> tuple[float, list[SampleMean]]:
    """θ and the adjusted aggregates of every arm (same order as given).

    Args:
        arms: the arms' paired aggregates.

    Returns:
        ``(θ, adjusted)``; compare the adjusted arms with any mean test.
    """
    theta = cuped_theta(arms)
    n = sum(a.n for a in arms)
    x_mean = sum(a.sum_x for a in arms) / n if n else 0.0
    return theta, [cuped_adjust(a, theta, x_mean) for a in arms]


def variance_reduction(arm: Paired, theta: float) -> float:
    """Share of the metric's variance removed: 1 − Var(y − θx) / Var(y).

    Args:
        arm: the arm's paired aggregates.
        theta: the slope in use.
    """
    var_y = arm.y.variance
    if var_y == 0.0:
        return 0.0
    var_z = var_y - 2.0 * theta * arm.covariance + theta**2 * arm.x.variance
    return 1.0 - var_z / var_y
