"""Sample ratio mismatch: did the arms get the traffic the plan promised?

A mismatch means assignment or logging is broken, so no effect read-out is trusted;
the conventional threshold is p < 0.001 (Fabijan et al., 2019).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from opsloop.errors import InvalidInputError

SRM_THRESHOLD = 0.001


@dataclass(frozen=True, slots=True)
class SrmResult:
    """Chi-square goodness-of-fit of observed arm sizes against the planned split."""

    statistic: float
    df: int
    p_value: float
    expected: tuple[float, ...]
    mismatch: bool


def srm_check(
    observed: Sequence[int], planned: Sequence[float], *, threshold: float = SRM_THRESHOLD
) -> SrmResult:
    """Pearson chi-square test of arm sizes against planned weights.

    Eₐ = N · wₐ / Σw,  χ² = Σₐ (Oₐ − Eₐ)² / Eₐ,  p = P(χ²_{k−1} ≥ χ²).

    Args:
        observed: exposures per arm.
        planned: planned weights per arm, any scale (e.g. ``[1, 1, 1]`` or ``[0.8, 0.2]``).
        threshold: p-value below which the split is flagged as a mismatch.
    """
    if len(observed) != len(planned) or len(observed) < 2:
        raise InvalidInputError("need one weight per arm, two arms or more", where="planned")
    if any(w <= 0 for w in planned):
        raise InvalidInputError("planned weights must be positive", where="planned")
    total = float(sum(observed))
    wsum = float(sum(planned))
    expected = tuple(total * w / wsum for w in planned)
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True) if e > 0)
    df = len(observed) - 1
    p = float(stats.chi2.sf(chi2, df)) if total > 0 else math.nan
    return SrmResult(chi2, df, p, expected, bool(p < threshold))
