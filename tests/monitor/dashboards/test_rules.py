"""Alert rules: robust z against scipy's MAD and a textbook same-weekday baseline."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from opsloop.errors import InvalidInputError
from opsloop.monitor.dashboards.alerts import validate_rule
from opsloop.monitor.dashboards.rules import Anomaly, Threshold, evaluate, robust_z

DAY = dt.date(2024, 3, 18)  # a Monday


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 500), min_size=3, max_size=30),
    st.integers(0, 1000),
)
def test_robust_z_matches_scipy_mad(baseline: list[int], value: int) -> None:
    b = np.array(baseline, dtype=float)
    med = float(np.median(b))
    mad = float(stats.median_abs_deviation(b, scale=1.0))
    got_med, z = robust_z(float(value), [float(x) for x in baseline])
    assert got_med == pytest.approx(med)
    if mad == 0:
        assert z == (0.0 if value == med else math.copysign(math.inf, value - med))
    else:
        assert z == pytest.approx(0.6745 * (value - med) / mad, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 100), min_size=70, max_size=70), st.integers(3, 9))
def test_anomaly_uses_the_same_weekday_of_previous_weeks(values: list[int], weeks: int) -> None:
    series = {DAY - dt.timedelta(days=i): float(v) for i, v in enumerate(values) if v % 7}
    rule = Anomaly(weeks=weeks, z=3.5)
    check = evaluate(rule, series, DAY)
    # textbook: Mondays 1..weeks weeks back, absent days 0, then Iglewicz-Hoaglin
    mondays = [series.get(DAY - dt.timedelta(days=7 * k), 0.0) for k in range(1, weeks + 1)]
    assert all((DAY - dt.timedelta(days=7 * k)).weekday() == 0 for k in range(1, weeks + 1))
    med = float(np.median(mondays))
    mad = float(np.median(np.abs(np.array(mondays) - med)))
    x = series.get(DAY, 0.0)
    assert check.value == x and check.baseline == pytest.approx(med)
    if mad:
        z = 0.6745 * (x - med) / mad
        assert check.score == pytest.approx(z)
        assert check.fired == (abs(z) > 3.5)
    else:
        assert check.fired == (x != med)


def test_direction_and_threshold() -> None:
    history = {DAY - dt.timedelta(weeks=k): 100.0 + k for k in range(1, 9)}
    drop = {**history, DAY: 10.0}
    assert evaluate(Anomaly(direction="down"), drop, DAY).fired
    assert not evaluate(Anomaly(direction="up"), drop, DAY).fired
    assert "robust z" in evaluate(Anomaly(), drop, DAY).reason
    assert evaluate(Threshold(op=">", limit=9), drop, DAY).fired
    assert not evaluate(Threshold(op=">", limit=10), drop, DAY).fired
    assert evaluate(Threshold(op=">=", limit=10), drop, DAY).fired


@pytest.mark.parametrize(
    ("rule", "where"),
    [
        ({"kind": "anomaly", "weeks": 1}, "rule.weeks"),
        ({"kind": "threshold", "op": "!=", "limit": 1}, "rule.op"),
        ({"kind": "threshold", "op": ">", "limit": 1, "x": 2}, "rule.x"),
    ],
)
def test_bad_rule_names_the_field(rule: dict[str, object], where: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        validate_rule(rule)
    assert err.value.where == where
