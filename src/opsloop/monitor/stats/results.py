"""Result types shared by the tests: an estimate with its interval, a two-arm comparison."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its standard error and two-sided interval."""

    value: float
    se: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True, slots=True)
class Comparison:
    """Treatment against control for one metric.

    Attributes:
        difference: treatment − control, in metric units.
        relative: treatment / control − 1 (delta-method interval).
        statistic: the test statistic (t or z).
        p_value: two-sided p-value of "no difference".
        df: degrees of freedom (``inf`` for a z-test).
    """

    difference: Estimate
    relative: Estimate
    statistic: float
    p_value: float
    df: float
