"""Welch and two-proportion tests against SciPy and statsmodels on raw data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from opsloop.monitor.stats.aggregates import Proportion, sample_mean
from opsloop.monitor.stats.frequentist import (
    mean_interval,
    relative_uplift,
    two_proportion_ztest,
    welch_ttest,
)


class TestWelch:
    @settings(max_examples=40, deadline=None)
    @given(
        seed=st.integers(0, 2**31),
        n1=st.integers(3, 400),
        n0=st.integers(3, 400),
        shift=st.floats(-3, 3),
        scale=st.floats(0.1, 10),
    )
    def test_matches_scipy_on_raw_data(
        self, seed: int, n1: int, n0: int, shift: float, scale: float
    ) -> None:
        rng = np.random.default_rng(seed)
        y1 = rng.normal(10 + shift, scale, n1)
        y0 = rng.lognormal(2.0, 0.5, n0)
        got = welch_ttest(sample_mean(y1), sample_mean(y0))
        ref = stats.ttest_ind(y1, y0, equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert got.statistic == pytest.approx(ref.statistic, rel=1e-6, abs=1e-9)
        assert got.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
        assert got.df == pytest.approx(ref.df, rel=1e-6)
        assert got.difference.ci_low == pytest.approx(ci.low, rel=1e-6, abs=1e-9)
        assert got.difference.ci_high == pytest.approx(ci.high, rel=1e-6, abs=1e-9)

    def test_relative_uplift_delta_method_matches_simulation(self) -> None:
        # The delta-method se of m1/m0 − 1 against the spread of the ratio over resamples.
        rng = np.random.default_rng(3)
        n1, n0 = 4000, 5000
        ratios = []
        for _ in range(400):
            ratios.append(rng.exponential(12.0, n1).mean() / rng.exponential(10.0, n0).mean() - 1)
        r, se = relative_uplift(12.0, 144.0, n1, 10.0, 100.0, n0)
        assert r == pytest.approx(0.2)
        assert se == pytest.approx(np.std(ratios, ddof=1), rel=0.1)

    def test_relative_interval_is_undefined_for_zero_control(self) -> None:
        got = welch_ttest(sample_mean([1.0, 2.0, 3.0]), sample_mean([0.0, 0.0, 0.0]))
        assert np.isnan(got.relative.value)

    def test_mean_interval_matches_scipy(self) -> None:
        y = np.random.default_rng(4).normal(5, 2, 50)
        got = mean_interval(sample_mean(y))
        lo, hi = stats.t.interval(0.95, 49, loc=y.mean(), scale=stats.sem(y))
        assert (got.ci_low, got.ci_high) == pytest.approx((lo, hi), rel=1e-9)


class TestTwoProportion:
    @settings(max_examples=40, deadline=None)
    @given(
        n1=st.integers(20, 100_000),
        n0=st.integers(20, 100_000),
        p1=st.floats(0.02, 0.98),
        p0=st.floats(0.02, 0.98),
    )
    def test_matches_statsmodels(self, n1: int, n0: int, p1: float, p0: float) -> None:
        x1, x0 = round(n1 * p1), round(n0 * p0)
        assume(0 < x1 + x0 < n1 + n0)  # statsmodels gives nan without any variation
        got = two_proportion_ztest(Proportion(n1, x1), Proportion(n0, x0))
        z, p = proportions_ztest([x1, x0], [n1, n0])
        lo, hi = confint_proportions_2indep(x1, n1, x0, n0, method="wald", compare="diff")
        assert got.statistic == pytest.approx(z, rel=1e-6, abs=1e-9)
        assert got.p_value == pytest.approx(p, rel=1e-6, abs=1e-12)
        assert got.difference.ci_low == pytest.approx(lo, abs=1e-6)
        assert got.difference.ci_high == pytest.approx(hi, abs=1e-6)

    def test_no_difference_gives_p_one(self) -> None:
        got = two_proportion_ztest(Proportion(100, 10), Proportion(100, 10))
        assert got.p_value == pytest.approx(1.0)

    def test_no_variation_at_all_gives_p_one(self) -> None:
        got = two_proportion_ztest(Proportion(100, 0), Proportion(50, 0))
        assert (got.statistic, got.p_value) == (0.0, 1.0)
