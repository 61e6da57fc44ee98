"""The experiment service: one query through the warehouse, statistics equal raw-data ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from opsloop.errors import NotFoundError
from opsloop.monitor.experiments import ExperimentResult, Metric, experiment_results
from opsloop.warehouse import Warehouse

ARMS = ("control", "coupon", "sms")
N = {"control": 3000, "coupon": 2900, "sms": 3100}


def exposures(seed: int = 31) -> pa.Table:
    rng = np.random.default_rng(seed)
    parts = []
    for k, arm in enumerate(ARMS):
        n = N[arm]
        pre = rng.gamma(2.0, 50.0, n)
        spend = 0.6 * pre + 10 * k + rng.gamma(2.0, 20.0, n)
        converted = rng.random(n) < 0.10 + 0.01 * k
        parts.append(
            pa.table(
                {
                    "customer_id": np.arange(n) + 100_000 * k,
                    "arm": [arm] * n,
                    "spend": spend,
                    "pre_spend": pre,
                    "converted": converted.astype(np.int64),
                }
            )
        )
    return pa.concat_tables(parts)


@pytest.fixture
def wh() -> Iterator[Warehouse]:
    w = Warehouse.open(":memory:")
    w.replace_tables({"exp_exposures": exposures()}, dataset="lab")
    yield w
    w.close()


def column(arm: str, name: str) -> np.ndarray:
    t = exposures()
    mask = np.asarray(t["arm"].to_pylist()) == arm
    return np.asarray(t[name].to_numpy(), dtype=float)[mask]


class TestExperimentResults:
    def read(self, wh: Warehouse, **kw: Any) -> ExperimentResult:
        return experiment_results(
            wh=wh,
            table="exp_exposures",
            dataset="lab",
            control="control",
            metrics=[Metric("spend", pre_column="pre_spend"), Metric("converted", "proportion")],
            **kw,
        )

    def test_exposures_and_srm(self, wh: Warehouse) -> None:
        res = self.read(wh)
        assert res.exposures == (("control", 3000), ("coupon", 2900), ("sms", 3100))
        ref = stats.chisquare([3000, 2900, 3100])
        assert res.srm.p_value == pytest.approx(ref.pvalue, rel=1e-9)

    def test_mean_metric_equals_scipy_welch(self, wh: Warehouse) -> None:
        res = self.read(wh)
        spend = res.metrics[0]
        for row in spend.arms[1:]:
            ref = stats.ttest_ind(
                column(row.arm, "spend"), column("control", "spend"), equal_var=False
            )
            assert row.vs_control.p_value == pytest.approx(ref.pvalue, rel=1e-6)
            ci = ref.confidence_interval()
            assert row.vs_control.difference.ci_low == pytest.approx(ci.low, rel=1e-6)
            assert row.mean.value == pytest.approx(column(row.arm, "spend").mean(), rel=1e-9)

    def test_cuped_equals_ols(self, wh: Warehouse) -> None:
        spend = self.read(wh).metrics[0]
        y = np.r_[column("control", "spend"), column("coupon", "spend"), column("sms", "spend")]
        x = np.r_[
            column("control", "pre_spend"),
            column("coupon", "pre_spend"),
            column("sms", "pre_spend"),
        ]
        d1 = np.r_[np.zeros(3000), np.ones(2900), np.zeros(3100)]
        d2 = np.r_[np.zeros(5900), np.ones(3100)]
        ols = sm.OLS(y, np.column_stack([np.ones_like(y), d1, d2, x])).fit()
        coupon, sms = spend.arms[1], spend.arms[2]
        assert coupon.cuped.difference.value == pytest.approx(ols.params[1], rel=1e-6)
        assert sms.cuped.difference.value == pytest.approx(ols.params[2], rel=1e-6)
        assert spend.theta == pytest.approx(ols.params[3], rel=1e-6)
        assert spend.variance_reduction > 0.3
        assert coupon.cuped.difference.se < coupon.vs_control.difference.se

    def test_proportion_metric_equals_statsmodels(self, wh: Warehouse) -> None:
        conv = self.read(wh).metrics[1]
        for row in conv.arms[1:]:
            x1, x0 = column(row.arm, "converted").sum(), column("control", "converted").sum()
            _z, p = proportions_ztest([x1, x0], [N[row.arm], N["control"]])
            assert row.vs_control.p_value == pytest.approx(p, rel=1e-6)
            assert 0.0 <= row.bayesian.chance_to_win <= 1.0

    def test_sequential_is_wider(self, wh: Warehouse) -> None:
        res = self.read(wh, sequential_tuning=6000)
        row = res.metrics[0].arms[1]
        assert row.sequential.difference.ci_low < row.vs_control.difference.ci_low

    def test_unknown_control_and_column(self, wh: Warehouse) -> None:
        with pytest.raises(NotFoundError):
            experiment_results(
                wh=wh, table="exp_exposures", dataset="lab", control="nope", metrics=["spend"]
            )
        with pytest.raises(NotFoundError):
            experiment_results(
                wh=wh, table="exp_exposures", dataset="lab", control="control", metrics=["nope"]
            )


class TestNulls:
    def test_null_counts_as_zero(self) -> None:
        wh = Warehouse.open(":memory:")
        t = pa.table(
            {
                "arm": ["c", "c", "c", "t", "t", "t"],
                "spend": [1.0, None, 3.0, 2.0, 4.0, None],
                "pre": [1.0, 2.0, None, 1.0, 1.0, 2.0],
                "buy": [1, None, 0, 1, 1, None],
            }
        )
        wh.replace_tables({"nulls": t})
        res = experiment_results(
            wh=wh,
            table="nulls",
            control="c",
            metrics=[Metric("spend", pre_column="pre"), Metric("buy", "proportion")],
        )
        spend, buy = res.metrics
        assert [r.mean.value for r in spend.arms] == pytest.approx([4 / 3, 2.0])
        assert [r.mean.value for r in buy.arms] == pytest.approx([1 / 3, 2 / 3])
        assert spend.theta is not None
        wh.close()
