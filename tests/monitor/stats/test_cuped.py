"""CUPED against an OLS regression of y on treatment and the pre-period covariate."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.monitor.stats.aggregates import paired
from opsloop.monitor.stats.cuped import cuped_arms, cuped_theta, variance_reduction
from opsloop.monitor.stats.frequentist import welch_ttest


def simulate(seed: int, n1: int, n0: int, effect: float, rho: float) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x1, x0 = rng.gamma(2.0, 10.0, n1), rng.gamma(2.0, 10.0, n0)
    y1 = 5 + rho * x1 + effect + rng.normal(0, 8, n1)
    y0 = 5 + rho * x0 + rng.normal(0, 8, n0)
    return y1, x1, y0, x0


class TestCuped:
    @settings(max_examples=25, deadline=None)
    @given(
        seed=st.integers(0, 2**31),
        n1=st.integers(10, 2000),
        n0=st.integers(10, 2000),
        effect=st.floats(-5, 5),
        rho=st.floats(-2, 2),
    )
    def test_effect_equals_ols_coefficient(
        self, seed: int, n1: int, n0: int, effect: float, rho: float
    ) -> None:
        y1, x1, y0, x0 = simulate(seed, n1, n0, effect, rho)
        theta, (t, c) = cuped_arms([paired(y1, x1), paired(y0, x0)])
        got = welch_ttest(t, c)
        design = np.column_stack(
            [np.ones(n1 + n0), np.r_[np.ones(n1), np.zeros(n0)], np.r_[x1, x0]]
        )
        ols = sm.OLS(np.r_[y1, y0], design).fit()
        assert got.difference.value == pytest.approx(ols.params[1], rel=1e-6, abs=1e-8)
        assert theta == pytest.approx(ols.params[2], rel=1e-6, abs=1e-9)
        # Welch on adjusted values ignores θ's own noise: near OLS HC2 once arms are not tiny.
        if min(n1, n0) >= 200:
            hc2 = ols.get_robustcov_results("HC2").bse[1]
            assert got.difference.se == pytest.approx(hc2, rel=0.05)

    def test_adjusted_values_match_raw_computation(self) -> None:
        y1, x1, y0, x0 = simulate(5, 300, 400, 2.0, 1.0)
        theta, (t, _c) = cuped_arms([paired(y1, x1), paired(y0, x0)])
        xbar = np.r_[x1, x0].mean()
        z1 = y1 - theta * (x1 - xbar)
        assert t.mean == pytest.approx(z1.mean(), rel=1e-10)
        assert t.variance == pytest.approx(z1.var(ddof=1), rel=1e-8)

    def test_reduces_variance_by_squared_correlation(self) -> None:
        _y1, _x1, y0, x0 = simulate(6, 5000, 5000, 0.0, 1.0)
        arm = paired(y0, x0)
        theta = cuped_theta([arm])
        r = np.corrcoef(x0, y0)[0, 1]
        assert variance_reduction(arm, theta) == pytest.approx(r**2, rel=1e-9)

    def test_constant_covariate_changes_nothing(self) -> None:
        y = np.arange(10.0)
        theta, (adj,) = cuped_arms([paired(y, np.ones(10))])
        assert theta == 0.0
        assert adj.mean == pytest.approx(y.mean())
