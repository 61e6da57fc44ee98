"""Campaign ROI against a holdout: opsloop vs the arithmetic done by hand."""

from __future__ import annotations

import math

import pytest

from opsloop.monitor.roi import campaign_roi
from opsloop.monitor.stats.aggregates import Proportion, SampleMean

Z = 1.959963984540054


class TestCampaignRoi:
    def test_matches_hand_computation(self) -> None:
        t, h = Proportion(20_000, 300), Proportion(20_000, 200)
        tv, hv = (
            SampleMean(20_000, 30_000.0, 9_000_000.0),
            SampleMean(20_000, 20_000.0, 6_000_000.0),
        )
        got = campaign_roi(
            treated=t, holdout=h, treated_value=tv, holdout_value=hv, cost_per_contact=0.25
        )
        assert got.cost == 5_000.0
        assert got.incremental_conversions.value == pytest.approx(100.0)
        se = math.sqrt(0.015 * 0.985 / 20_000 + 0.01 * 0.99 / 20_000) * 20_000
        assert got.incremental_conversions.ci_low == pytest.approx(100 - Z * se, rel=1e-9)
        assert got.incremental_value.value == pytest.approx(10_000.0)
        assert got.roi.value == pytest.approx(1.0)
        assert got.cost_per_incremental_conversion.value == pytest.approx(50.0)
        assert got.cost_per_incremental_conversion.ci_high == pytest.approx(
            5_000 / (100 - Z * se), rel=1e-9
        )

    def test_no_lift_means_unbounded_cost(self) -> None:
        same = Proportion(1000, 10)
        v = SampleMean(1000, 100.0, 1000.0)
        got = campaign_roi(
            treated=same, holdout=same, treated_value=v, holdout_value=v, cost_per_contact=1.0
        )
        assert got.roi.value == pytest.approx(-1.0)
        assert math.isinf(got.cost_per_incremental_conversion.value)
        assert math.isinf(got.cost_per_incremental_conversion.ci_high)
