"""Bayesian read-outs against Monte-Carlo draws and the exact Beta-Binomial sum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import betaln

from opsloop.monitor.stats.aggregates import Proportion, sample_mean
from opsloop.monitor.stats.bayesian import beta_binomial, gaussian

DRAWS = 400_000


def exact_chance(a1: float, b1: float, a0: float, b0: float) -> float:
    """Evan Miller's closed form of P(p1 > p0) for integer a1."""
    i = np.arange(int(a1))
    return float(
        np.exp(betaln(a0 + i, b0 + b1) - np.log(b1 + i) - betaln(1 + i, b1) - betaln(a0, b0)).sum()
    )


class TestBetaBinomial:
    @pytest.mark.parametrize(
        ("t", "c"),
        [
            (Proportion(1000, 120), Proportion(1000, 100)),
            (Proportion(250, 20), Proportion(300, 31)),
            (Proportion(50_000, 2_600), Proportion(50_000, 2_500)),
        ],
    )
    def test_matches_monte_carlo(self, t: Proportion, c: Proportion) -> None:
        rng = np.random.default_rng(11)
        d1 = rng.beta(1 + t.sum, 1 + t.n - t.sum, DRAWS)
        d0 = rng.beta(1 + c.sum, 1 + c.n - c.sum, DRAWS)
        got = beta_binomial(t, c)
        assert got.chance_to_win == pytest.approx((d1 > d0).mean(), abs=3e-3)
        assert got.expected_loss == pytest.approx(np.maximum(d0 - d1, 0).mean(), rel=0.03)
        assert got.expected_loss_control == pytest.approx(np.maximum(d1 - d0, 0).mean(), rel=0.03)

    def test_matches_exact_sum(self) -> None:
        t, c = Proportion(400, 57), Proportion(380, 44)
        got = beta_binomial(t, c)
        assert got.chance_to_win == pytest.approx(exact_chance(58, 344, 45, 337), abs=1e-9)

    def test_loss_identity(self) -> None:
        # E[max(d,0)] − E[max(−d,0)] = E[d] for d = p1 − p0.
        got = beta_binomial(Proportion(900, 80), Proportion(1100, 90))
        assert got.expected_loss_control - got.expected_loss == pytest.approx(
            got.difference.value, abs=1e-10
        )

    def test_narrow_against_wide_posterior(self) -> None:
        big, small = Proportion(100_000, 12_000), Proportion(100, 10)
        rng = np.random.default_rng(13)
        d1 = rng.beta(1 + 12_000, 1 + 88_000, DRAWS)
        d0 = rng.beta(1 + 10, 1 + 90, DRAWS)
        got = beta_binomial(big, small)
        assert got.chance_to_win == pytest.approx((d1 > d0).mean(), abs=3e-3)
        assert got.expected_loss == pytest.approx(np.maximum(d0 - d1, 0).mean(), rel=0.02)
        back = beta_binomial(small, big)
        assert got.chance_to_win + back.chance_to_win == pytest.approx(1.0, abs=1e-9)
        assert back.expected_loss == pytest.approx(got.expected_loss_control, abs=1e-12)

    def test_far_apart_arms(self) -> None:
        got = beta_binomial(Proportion(3_000_000, 330_000), Proportion(3_000_000, 300_000))
        assert got.chance_to_win == pytest.approx(1.0)
        assert got.expected_loss == pytest.approx(0.0, abs=1e-12)
        assert got.expected_loss_control == pytest.approx(0.01, rel=1e-3)


class TestGaussian:
    def test_matches_monte_carlo(self) -> None:
        rng = np.random.default_rng(12)
        t = sample_mean(rng.gamma(2.0, 5.1, 3000))
        c = sample_mean(rng.gamma(2.0, 5.0, 3000))
        s = np.sqrt(t.variance / t.n + c.variance / c.n)
        d = rng.normal(t.mean - c.mean, s, DRAWS)
        got = gaussian(t, c)
        assert got.chance_to_win == pytest.approx((d > 0).mean(), abs=3e-3)
        assert got.expected_loss == pytest.approx(np.maximum(-d, 0).mean(), rel=0.02)
        assert got.expected_loss_control == pytest.approx(np.maximum(d, 0).mean(), rel=0.02)

    def test_agrees_with_beta_for_large_samples(self) -> None:
        t, c = Proportion(200_000, 10_400), Proportion(200_000, 10_000)
        assert gaussian(t, c).chance_to_win == pytest.approx(
            beta_binomial(t, c).chance_to_win, abs=2e-3
        )
