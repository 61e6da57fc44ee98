"""Analysis documents: frozen, typed queries that compile to one Ibis expression each.

Every document is plain JSON with a ``kind`` tag. Nothing in a document becomes SQL
text: event names and property keys are checked against strict patterns and reach the
engine only as literals or JSON paths, numbers are typed, dates are dates. A document
either validates completely or the error names the field (``steps[2].event``).

Time ranges are whole days: ``start`` and ``end`` are inclusive dates, so the range is
``[start 00:00, end + 1 day 00:00)``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_EVENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_.:$-]{0,127}$")
PropertyValue: TypeAlias = bool | int | str
Unit: TypeAlias = Literal["day", "week", "month"]


def check_key(key: str) -> str:
    """A property key is a plain identifier (it becomes a JSON path, never SQL)."""
    if not _KEY.match(key):
        raise ValueError(f"property key {key!r} must be a plain identifier")
    return key


def check_event(name: str) -> str:
    if not _EVENT.match(name):
        raise ValueError(f"event name {name!r} must be letters, digits, '_', '.', ':', '$', '-'")
    return name


Key = Annotated[str, Field(min_length=1, max_length=64)]
EventName = Annotated[str, Field(min_length=1, max_length=128)]


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventFilter(_Doc):
    """Events of one name whose JSON properties equal the given values."""

    event: EventName
    properties: dict[str, PropertyValue] = Field(default_factory=dict)

    @field_validator("event")
    @classmethod
    def _event(cls, name: str) -> str:
        return check_event(name)

    @field_validator("properties")
    @classmethod
    def _keys(cls, props: dict[str, PropertyValue]) -> dict[str, PropertyValue]:
        for key in props:
            check_key(key)
        return props


_FIRST, _LAST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


class _Ranged(_Doc):
    # bounded so that windows and lookbacks added to them stay valid dates
    start: dt.date = Field(ge=_FIRST, le=_LAST)
    end: dt.date = Field(ge=_FIRST, le=_LAST)

    @field_validator("end")
    @classmethod
    def _order(cls, end: dt.date, info: object) -> dt.date:
        start = getattr(info, "data", {}).get("start")
        if start is not None and end < start:
            raise ValueError(f"end {end} is before start {start}")
        if start is not None and (end - start).days > 3660:
            raise ValueError("the range is limited to ten years")
        return end


class EventAnalysis(_Ranged):
    """Count, unique customers or the sum of a numeric property, per period and group."""

    kind: Literal["event"] = "event"
    event: EventFilter
    measure: Literal["count", "uniques", "sum"] = "count"
    property: Key | None = None
    interval: Unit | None = "day"
    by: Key | None = None

    @field_validator("property", "by")
    @classmethod
    def _key(cls, key: str | None) -> str | None:
        return None if key is None else check_key(key)

    @model_validator(mode="after")
    def _sum_needs_property(self) -> EventAnalysis:
        if self.measure == "sum" and self.property is None:
            raise ValueError("property: measure 'sum' needs the numeric property to add up")
        return self


class Funnel(_Ranged):
    """Ordered steps a customer completes within ``window_days`` of their first step 1."""

    kind: Literal["funnel"] = "funnel"
    steps: tuple[EventFilter, ...] = Field(min_length=2, max_length=10)
    window_days: int = Field(default=7, gt=0, le=366)
    order: Literal["loose", "strict"] = "loose"
    by: Key | None = None

    @field_validator("by")
    @classmethod
    def _key(cls, key: str | None) -> str | None:
        return None if key is None else check_key(key)


class Retention(_Ranged):
    """Cohorts by the period of each customer's first initial event; returns per period."""

    kind: Literal["retention"] = "retention"
    initial: EventFilter
    returning: EventFilter
    unit: Unit = "day"
    periods: int = Field(default=7, ge=1, le=120)


class Distribution(_Ranged):
    """Customers by how often they did an event, or by the amount they summed, in buckets."""

    kind: Literal["distribution"] = "distribution"
    event: EventFilter
    measure: Literal["frequency", "amount"] = "frequency"
    property: Key | None = None
    edges: tuple[float, ...] = Field(min_length=1, max_length=50)

    @field_validator("property")
    @classmethod
    def _key(cls, key: str | None) -> str | None:
        return None if key is None else check_key(key)

    @field_validator("edges")
    @classmethod
    def _ascending(cls, edges: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("edges must be strictly ascending")
        return edges

    @model_validator(mode="after")
    def _amount_needs_property(self) -> Distribution:
        if self.measure == "amount" and self.property is None:
            raise ValueError("property: measure 'amount' needs the numeric property to add up")
        return self


class PathAnalysis(_Ranged):
    """The events just after (or before) each customer's first anchor event."""

    kind: Literal["path"] = "path"
    anchor: EventFilter
    direction: Literal["after", "before"] = "after"
    depth: int = Field(default=3, ge=1, le=8)
    top: int = Field(default=20, ge=1, le=500)


class Attribution(_Ranged):
    """Credit for each conversion shared among the touches before it."""

    kind: Literal["attribution"] = "attribution"
    conversion: EventFilter
    touches: tuple[EventName, ...] = Field(min_length=1, max_length=50)
    lookback_days: int = Field(default=30, gt=0, le=366)
    model: Literal["first", "last", "linear", "time_decay", "position"] = "last"
    half_life_days: float = Field(default=7.0, gt=0, le=366)

    @field_validator("touches")
    @classmethod
    def _events(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            check_event(name)
        return names


class Interval(_Ranged):
    """Seconds from each customer's first ``first`` event to their next ``then`` event."""

    kind: Literal["interval"] = "interval"
    first: EventFilter
    then: EventFilter
    within_days: int | None = Field(default=None, gt=0, le=3660)
    percentiles: tuple[float, ...] = Field(default=(0.25, 0.5, 0.75, 0.9), min_length=1)

    @field_validator("percentiles")
    @classmethod
    def _unit(cls, ps: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0.0 <= p <= 1.0 for p in ps):
            raise ValueError("percentiles are fractions in [0, 1]")
        return ps


class Ltv(_Ranged):
    """Cumulative value per cohort customer, by months since their first cohort event."""

    kind: Literal["ltv"] = "ltv"
    cohort_event: EventFilter
    value_event: EventFilter
    value_property: Key
    months: int = Field(default=6, ge=1, le=60)

    @field_validator("value_property")
    @classmethod
    def _key(cls, key: str) -> str:
        return check_key(key)


KpiName: TypeAlias = Literal[
    "mau", "aum", "pv_uv_ctr", "bounce", "conversion", "activation", "retention", "nps", "csat",
    "ces",
]  # fmt: skip
_KPI_NEEDS: dict[str, tuple[str, ...]] = {
    "pv_uv_ctr": ("event", "target"),
    "conversion": ("event", "target"),
    "activation": ("target",),
    "nps": ("event", "score_property"),
    "csat": ("event", "score_property"),
    "ces": ("event", "score_property"),
}


class Kpi(_Ranged):
    """A business KPI per period (see docs/analyses.md for each definition)."""

    kind: Literal["kpi"] = "kpi"
    metric: KpiName
    interval: Literal["day", "week", "month"] = "month"
    event: EventFilter | None = None
    target: EventFilter | None = None
    score_property: Key | None = None
    within_days: int = Field(default=30, gt=0, le=366)

    @field_validator("score_property")
    @classmethod
    def _key(cls, key: str | None) -> str | None:
        return None if key is None else check_key(key)

    @model_validator(mode="after")
    def _needs(self) -> Kpi:
        for name in _KPI_NEEDS.get(self.metric, ()):
            if getattr(self, name) is None:
                raise ValueError(f"{name}: KPI {self.metric!r} needs {name!r}")
        return self


Analysis = Annotated[
    EventAnalysis | Funnel | Retention | Distribution | PathAnalysis | Attribution | Interval
    | Ltv | Kpi,
    Field(discriminator="kind"),
]  # fmt: skip


class AnalysisDocument(_Doc):
    """The envelope a file or API body holds: one analysis."""

    analysis: Analysis
