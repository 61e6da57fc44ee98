"""Real data: the Hillstrom e-mail experiment read out by opsloop vs a textbook computation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest
from scipy import stats

from opsloop.monitor.experiments import ExperimentResult, Metric, experiment_results
from opsloop.warehouse import Warehouse

pytestmark = pytest.mark.realdata
CONTROL = "No E-Mail"
METRICS = [Metric("visit", "proportion"), Metric("conversion", "proportion"), Metric("spend")]


@pytest.fixture(scope="module")
def raw(datasets_dir: Path) -> pa.Table:
    path = datasets_dir / "hillstrom" / "hillstrom.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return pacsv.read_csv(path)


@pytest.fixture(scope="module")
def result(raw: pa.Table) -> Iterator[ExperimentResult]:
    wh = Warehouse.open(":memory:")
    table = raw.append_column("customer_id", pa.array(np.arange(raw.num_rows)))
    wh.replace_tables({"hillstrom_raw": table})
    yield experiment_results(
        wh=wh, table="hillstrom_raw", control=CONTROL, metrics=METRICS, arm_column="segment"
    )
    wh.close()


def values(raw: pa.Table, arm: str, metric: str) -> np.ndarray:
    mask = pc.equal(raw["segment"], arm)
    return np.asarray(raw.filter(mask)[metric].to_numpy(), dtype=float)


class TestHillstrom:
    def test_arms_and_split(self, result: ExperimentResult) -> None:
        assert dict(result.exposures) == {
            "No E-Mail": 21306,
            "Mens E-Mail": 21307,
            "Womens E-Mail": 21387,
        }
        assert not result.srm.mismatch

    @pytest.mark.parametrize("arm", ["Mens E-Mail", "Womens E-Mail"])
    @pytest.mark.parametrize("metric", ["visit", "conversion", "spend"])
    def test_effect_matches_textbook(
        self, raw: pa.Table, result: ExperimentResult, arm: str, metric: str
    ) -> None:
        y1, y0 = values(raw, arm, metric), values(raw, CONTROL, metric)
        n1, n0 = len(y1), len(y0)
        diff = y1.mean() - y0.mean()
        if metric == "spend":  # means: sample variances, Welch–Satterthwaite df, t quantile
            v1, v0 = y1.var(ddof=1) / n1, y0.var(ddof=1) / n0
            df = (v1 + v0) ** 2 / (v1**2 / (n1 - 1) + v0**2 / (n0 - 1))
            q = stats.t.ppf(0.975, df)
        else:  # proportions: p(1 − p) variances, normal quantile
            v1, v0 = y1.mean() * (1 - y1.mean()) / n1, y0.mean() * (1 - y0.mean()) / n0
            q = 1.959963984540054
        se = np.sqrt(v1 + v0)
        got = next(m for m in result.metrics if m.metric == metric)
        row = next(r for r in got.arms if r.arm == arm)
        assert row.vs_control is not None
        d = row.vs_control.difference
        assert d.value == pytest.approx(diff, abs=1e-9)
        assert d.se == pytest.approx(se, abs=1e-9)
        assert d.ci_low == pytest.approx(diff - q * se, abs=1e-6)
        assert d.ci_high == pytest.approx(diff + q * se, abs=1e-6)
        # The normal-quantile textbook CI differs from the t one by < 1e-5 at these sizes.
        assert d.ci_low == pytest.approx(diff - 1.959963984540054 * se, abs=1e-5)

    def test_headline_figures(self, result: ExperimentResult) -> None:
        visit = next(m for m in result.metrics if m.metric == "visit")
        mens = next(r for r in visit.arms if r.arm == "Mens E-Mail")
        assert mens.vs_control is not None and mens.bayesian is not None
        assert mens.vs_control.difference.value == pytest.approx(0.0766, abs=5e-4)
        assert mens.vs_control.p_value < 1e-100
        assert mens.bayesian.chance_to_win == pytest.approx(1.0)
