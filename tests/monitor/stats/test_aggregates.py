"""Aggregates give numpy's moments."""

from __future__ import annotations

import numpy as np
import pytest

from opsloop.errors import InvalidInputError
from opsloop.monitor.stats.aggregates import Proportion, SampleMean, paired, sample_mean


class TestSampleMean:
    def test_moments_match_numpy(self) -> None:
        y = np.random.default_rng(1).gamma(2.0, 3.0, 1000)
        s = sample_mean(y)
        assert s.mean == pytest.approx(y.mean(), rel=1e-12)
        assert s.variance == pytest.approx(y.var(ddof=1), rel=1e-9)

    def test_empty_and_single(self) -> None:
        assert SampleMean(0, 0.0, 0.0).mean == 0.0
        assert SampleMean(1, 5.0, 25.0).variance == 0.0

    def test_negative_n_is_rejected(self) -> None:
        with pytest.raises(InvalidInputError):
            SampleMean(-1, 0.0, 0.0)


class TestProportion:
    def test_bernoulli_variance(self) -> None:
        p = Proportion(200, 50)
        assert p.mean == 0.25
        assert p.variance == pytest.approx(0.1875)

    def test_successes_beyond_n_are_rejected(self) -> None:
        with pytest.raises(InvalidInputError):
            Proportion(10, 11)


class TestPaired:
    def test_covariance_matches_numpy(self) -> None:
        rng = np.random.default_rng(2)
        x = rng.normal(size=500)
        y = 2 * x + rng.normal(size=500)
        p = paired(y, x)
        assert p.covariance == pytest.approx(np.cov(x, y)[0, 1], rel=1e-9)
        assert p.x.variance == pytest.approx(x.var(ddof=1), rel=1e-9)
