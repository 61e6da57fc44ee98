"""Campaign ROI (效益评估): incremental effect against a holdout, priced by its cost.

Only the difference to a randomised holdout is credited to a campaign; the CIs of the
incremental figures are the difference's CI scaled, so ROI carries its uncertainty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from opsloop.monitor.stats.aggregates import Proportion, SampleMean
from opsloop.monitor.stats.frequentist import two_proportion_ztest, welch_ttest
from opsloop.monitor.stats.results import Estimate


@dataclass(frozen=True, slots=True)
class RoiResult:
    """What a campaign earned beyond its holdout, and at what price.

    Attributes:
        cost: fixed cost + cost per contact × treated customers.
        incremental_conversions: n_t·(p_t − p_h), with CI.
        incremental_value: n_t·(v̄_t − v̄_h), with CI.
        roi: (incremental value − cost) / cost, with CI.
        cost_per_incremental_conversion: cost / incremental conversions, with the
            inverted CI (upper bound ``inf`` when the conversions' CI reaches 0).
    """

    cost: float
    incremental_conversions: Estimate
    incremental_value: Estimate
    roi: Estimate
    cost_per_incremental_conversion: Estimate


def scale(e: Estimate, k: float, shift: float = 0.0) -> Estimate:
    lo, hi = sorted((e.ci_low * k + shift, e.ci_high * k + shift))
    return Estimate(e.value * k + shift, e.se * abs(k), lo, hi)


def campaign_roi(
    *,
    treated: Proportion,
    holdout: Proportion,
    treated_value: SampleMean,
    holdout_value: SampleMean,
    cost_per_contact: float,
    fixed_cost: float = 0.0,
    alpha: float = 0.05,
) -> RoiResult:
    """ROI and cost per incremental conversion of a campaign against its holdout.

    C = fixed + c·n_t;  ΔN = n_t·(p_t − p_h);  ΔV = n_t·(v̄_t − v̄_h);
    ROI = (ΔV − C)/C;  CPIC = C/ΔN. Intervals: the z (conversions) and Welch (value)
    intervals of the per-customer differences, mapped through these monotone formulas.

    Args:
        treated: conversions among contacted customers.
        holdout: conversions among the randomised holdout.
        treated_value: value (e.g. revenue margin) per contacted customer.
        holdout_value: value per holdout customer.
        cost_per_contact: cost of one contact (message, coupon face value …).
        fixed_cost: set-up cost of the campaign.
        alpha: 1 − confidence level.
    """
    n = treated.n
    cost = fixed_cost + cost_per_contact * n
    conv = scale(two_proportion_ztest(treated, holdout, alpha=alpha).difference, n)
    value = scale(welch_ttest(treated_value, holdout_value, alpha=alpha).difference, n)
    roi = scale(value, 1.0 / cost, -1.0) if cost > 0 else Estimate(math.nan, *(math.nan,) * 3)
    cpic = Estimate(
        cost / conv.value if conv.value > 0 else math.inf,
        cost * conv.se / conv.value**2 if conv.value > 0 else math.nan,  # delta method
        cost / conv.ci_high if conv.ci_high > 0 else math.inf,
        cost / conv.ci_low if conv.ci_low > 0 else math.inf,
    )
    return RoiResult(cost, conv, value, roi, cpic)
