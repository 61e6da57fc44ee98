"""Alert rules over a daily metric series (pure): a fixed threshold, or an anomaly against
the seasonal baseline — the same weekday over the previous weeks — by a robust z-score.

Robust z (Iglewicz & Hoaglin 1993): ``z = 0.6745 · (x − median) / MAD`` with
``MAD = median(|bᵢ − median|)`` over the baseline values bᵢ. Median and MAD ignore one
odd week (a holiday) where mean and standard deviation would not; 3.5 is their
recommended cut-off. A day with no events in the series counts as 0.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class Threshold(BaseModel):
    """Fire when ``value op limit`` holds (e.g. failed sends > 100)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["threshold"] = "threshold"
    op: Literal[">", ">=", "<", "<="]
    limit: float = Field(allow_inf_nan=False)


class Anomaly(BaseModel):
    """Fire when the day's robust z against the same weekday of ``weeks`` previous weeks
    passes ``z`` (``direction`` up: only rises; down: only drops)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["anomaly"] = "anomaly"
    weeks: int = Field(default=8, ge=3, le=52)
    z: float = Field(default=3.5, gt=0, le=100)
    direction: Literal["both", "up", "down"] = "both"


Rule = Annotated[Threshold | Anomaly, Field(discriminator="kind")]


@dataclass(frozen=True, slots=True)
class Check:
    """One day's verdict: the value, the baseline (median) and score (robust z) if any."""

    day: dt.date
    value: float
    fired: bool
    baseline: float | None = None
    score: float | None = None
    reason: str = ""


def robust_z(value: float, baseline: Sequence[float]) -> tuple[float, float]:
    """``(median, z)``; with MAD = 0, z is 0 at the median and ±inf elsewhere."""
    med = statistics.median(baseline)
    mad = statistics.median([abs(b - med) for b in baseline])
    if mad == 0:
        return med, 0.0 if value == med else math.copysign(math.inf, value - med)
    return med, 0.6745 * (value - med) / mad


def seasonal_baseline(series: Mapping[dt.date, float], day: dt.date, weeks: int) -> list[float]:
    """The values on the same weekday 1..``weeks`` weeks before ``day`` (absent = 0)."""
    return [float(series.get(day - dt.timedelta(weeks=k), 0.0)) for k in range(1, weeks + 1)]


def evaluate(rule: Threshold | Anomaly, series: Mapping[dt.date, float], day: dt.date) -> Check:
    """Apply ``rule`` to ``series`` on ``day``."""
    value = float(series.get(day, 0.0))
    if isinstance(rule, Threshold):
        fired = _OPS[rule.op](value, rule.limit)
        why = f"{value:g} {rule.op} {rule.limit:g}" if fired else ""
        return Check(day, value, fired, reason=why)
    med, z = robust_z(value, seasonal_baseline(series, day, rule.weeks))
    hit = {"both": abs(z) > rule.z, "up": z > rule.z, "down": z < -rule.z}[rule.direction]
    why = f"{value:g} vs median {med:g} of the same weekday, robust z {z:.2f}" if hit else ""
    return Check(day, value, hit, baseline=med, score=z, reason=why)
