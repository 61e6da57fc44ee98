"""Sample ratio mismatch against scipy.stats.chisquare."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from opsloop.errors import InvalidInputError
from opsloop.monitor.stats.srm import srm_check


class TestSrm:
    @settings(max_examples=50, deadline=None)
    @given(
        data=st.lists(st.tuples(st.integers(1, 10**7), st.floats(0.05, 10)), min_size=2, max_size=6)
    )
    def test_matches_scipy(self, data: list[tuple[int, float]]) -> None:
        observed = [o for o, _ in data]
        weights = [w for _, w in data]
        total = sum(observed)
        expected = [total * w / sum(weights) for w in weights]
        ref = stats.chisquare(observed, expected)
        got = srm_check(observed, weights)
        assert got.statistic == pytest.approx(ref.statistic, rel=1e-6, abs=1e-9)
        assert got.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)

    def test_flags_a_broken_split(self) -> None:
        assert srm_check([50_000, 50_000], [1, 1]).mismatch is False
        assert srm_check([50_000, 48_800], [1, 1]).mismatch is True

    def test_rejects_mismatched_lengths(self) -> None:
        with pytest.raises(InvalidInputError):
            srm_check([1, 2, 3], [1, 1])
