"""Confidence sequences: Howard et al.'s boundary, p/CI duality, safe peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.monitor.stats.aggregates import SampleMean
from opsloop.monitor.stats.frequentist import welch_ttest
from opsloop.monitor.stats.results import Comparison, Estimate
from opsloop.monitor.stats.sequential import (
    always_valid_p,
    halfwidth,
    sequential,
    sequential_rho,
)


def comparison(d: float, se: float) -> Comparison:
    e = Estimate(d, se, d - 1.96 * se, d + 1.96 * se)
    return Comparison(e, e, d / se, 0.0, math.inf)


class TestSequential:
    @settings(max_examples=50, deadline=None)
    @given(
        se=st.floats(1e-4, 10),
        n=st.integers(10, 10**8),
        alpha=st.floats(0.001, 0.2),
        tuning=st.floats(100, 1e7),
    )
    def test_equals_howard_normal_mixture(
        self, se: float, n: int, alpha: float, tuning: float
    ) -> None:
        # Howard et al. (2021) eq. 14 on the sum, intrinsic time v = σ²n, ρ_H = σ²/ρ².
        sigma2 = se * se * n
        rho_h = sigma2 / sequential_rho(alpha, tuning) ** 2
        v = sigma2 * n
        ref = math.sqrt((v + rho_h) * math.log((v + rho_h) / (rho_h * alpha**2))) / n
        assert halfwidth(se, n, alpha=alpha, tuning=tuning) == pytest.approx(ref, rel=1e-9)

    @settings(max_examples=50, deadline=None)
    @given(se=st.floats(0.01, 1), n=st.integers(100, 10**6), alpha=st.floats(0.01, 0.1))
    def test_p_value_is_alpha_on_the_boundary(self, se: float, n: int, alpha: float) -> None:
        h = halfwidth(se, n, alpha=alpha)
        assert always_valid_p(h, se, n, alpha=alpha) == pytest.approx(alpha, rel=1e-9)
        assert always_valid_p(1.01 * h, se, n, alpha=alpha) < alpha
        assert always_valid_p(0.99 * h, se, n, alpha=alpha) > alpha

    def test_wider_than_fixed_horizon(self) -> None:
        got = sequential(comparison(0.3, 0.1), 5000)
        assert got.difference.ci_high - got.difference.ci_low > 2 * 1.96 * 0.1

    def test_peeking_keeps_the_error_rate(self) -> None:
        # A/A streams looked at 20 times: fixed-horizon tests reject far too often.
        rng = np.random.default_rng(21)
        streams, looks, per_look = 200, 20, 250
        naive = safe = 0
        for _ in range(streams):
            a = rng.normal(0, 1, looks * per_look)
            b = rng.normal(0, 1, looks * per_look)
            ca, cb = np.cumsum(a), np.cumsum(b)
            qa, qb = np.cumsum(a * a), np.cumsum(b * b)
            hit_naive = hit_safe = False
            for k in range(1, looks + 1):
                i = k * per_look - 1
                cmp = welch_ttest(SampleMean(i + 1, ca[i], qa[i]), SampleMean(i + 1, cb[i], qb[i]))
                hit_naive |= cmp.p_value < 0.05
                hit_safe |= sequential(cmp, 2 * (i + 1), tuning=5000).p_value < 0.05
            naive += hit_naive
            safe += hit_safe
        assert naive / streams > 0.12
        assert safe / streams <= 0.05
