"""Five-field cron schedules for recurring segment entries, in the bank's time zone.

``minute hour day-of-month month day-of-week`` with ``*``, numbers, ``a-b`` ranges,
``,`` lists and ``/step``; day-of-week 0–6 is Sunday–Saturday (7 is Sunday too). As in
cron, when both day fields are restricted a day matching either one runs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_BOUNDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def matches(self, at: dt.datetime) -> bool:
        """Does the (local) minute ``at`` fire?"""
        if (
            at.minute not in self.minutes
            or at.hour not in self.hours
            or at.month not in self.months
        ):
            return False
        dom = at.day in self.days
        dow = (at.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return dom and dow
        return dom or dow


def _field(text: str, i: int) -> frozenset[int]:
    low, high = _BOUNDS[i]
    out: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            a, b = low, high
        elif "-" in base:
            a_text, b_text = base.split("-", 1)
            a, b = int(a_text), int(b_text)
        else:
            a = b = int(base)
            if step_text:
                b = high
        if step < 1 or not low <= a <= b <= high:
            raise ValueError(f"{_NAMES[i]} {part!r} is outside {low}-{high}")
        out.update(range(a, b + 1, step))
    if i == 4 and 7 in out:
        out = (out - {7}) | {0}
    return frozenset(out)


def parse(expr: str) -> Cron:
    """Parse a cron expression or raise ValueError naming the bad field."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError("a cron expression has 5 fields: minute hour day month weekday")
    try:
        sets = [_field(f, i) for i, f in enumerate(fields)]
    except ValueError as exc:
        if "outside" in str(exc):
            raise
        raise ValueError(f"cannot read cron expression {expr!r}") from None
    minutes, hours, days, months, weekdays = sets
    return Cron(
        minutes,
        hours,
        days,
        months,
        weekdays,
        any_day=fields[2] == "*",
        any_weekday=fields[4] == "*",
    )


def last_fire(
    expr: str, now: dt.datetime, zone: ZoneInfo, *, lookback_days: int = 7
) -> dt.datetime | None:
    """The latest firing minute at or before ``now`` within the lookback, in UTC."""
    cron = parse(expr)
    local = now.astimezone(zone).replace(second=0, microsecond=0)
    for _ in range(lookback_days * 24 * 60):
        if cron.matches(local):
            return local.astimezone(dt.UTC)
        local -= dt.timedelta(minutes=1)
    return None
