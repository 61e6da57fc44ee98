"""What every analysis compiler shares: scoped events, filters, ranges, periods."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import ibis.expr.types as ir

from opsloop.access.principal import Principal
from opsloop.access.scope import scoped_customers
from opsloop.monitor.analyses.model import EventFilter, Unit


def scoped_events(
    events: ibis.Table, customers: ibis.Table, principal: Principal, *, identified: bool = True
) -> ibis.Table:
    """Events the principal may see, restricted inside the expression.

    A branch (or RM) principal sees only events of customers in their scope: the semi-join
    drops anonymous events, which belong to no branch. A bank-wide principal sees every
    event; ``identified`` keeps only events with a customer (what per-customer analyses
    need).
    """
    if principal.bank_wide:
        return events.filter(events.customer_id.notnull()) if identified else events
    allowed = scoped_customers(customers, principal).select("customer_id")
    return events.semi_join(allowed, events.customer_id == allowed.customer_id)


def day_start(day: dt.date) -> Any:
    return ibis.literal(dt.datetime.combine(day, dt.time()), type="timestamp")


def in_range(t: ibis.Table, start: dt.date, end: dt.date, *, extra_days: int = 0) -> Any:
    """``start 00:00 <= ts < end + 1 + extra_days 00:00``."""
    stop = end + dt.timedelta(days=1 + extra_days)
    return (t.ts >= day_start(start)) & (t.ts < day_start(stop))


def prop(t: ibis.Table, key: str) -> Any:
    return t.properties.cast("json")[key]


def matches(t: ibis.Table, f: EventFilter) -> ir.BooleanValue:
    """The event is ``f.event`` and every property filter holds (unknown is false)."""
    cond: Any = t.event == f.event
    for key, value in f.properties.items():
        j = prop(t, key)
        typed = j.bool if isinstance(value, bool) else j.int if isinstance(value, int) else j.str
        cond = cond & (typed == value).fill_null(False)
    result: ir.BooleanValue = cond
    return result


def number(t: ibis.Table, key: str) -> Any:
    """A numeric property as float64 (null when absent or not a number)."""
    return prop(t, key).unwrap_as("float64")


def text(t: ibis.Table, key: str) -> Any:
    """A string property (null when absent or not a string)."""
    return prop(t, key).str


def period(ts: Any, unit: Unit) -> Any:
    """The start of the day / ISO week (Monday) / month a timestamp falls in, as a date."""
    return ts.truncate({"day": "D", "week": "W", "month": "M"}[unit]).date()


def periods_between(later: Any, earlier: Any, unit: Unit) -> Any:
    """Whole periods from ``earlier``'s period to ``later``'s (both period-start dates)."""
    if unit == "month":
        return (later.year() - earlier.year()) * 12 + (later.month() - earlier.month())
    days = later.delta(earlier, unit="day")
    return days // 7 if unit == "week" else days


def seconds_between(later: Any, earlier: Any) -> Any:
    """Exact seconds (microsecond precision) from ``earlier`` to ``later``."""
    return later.delta(earlier, unit="microsecond").cast("float64") / 1e6
