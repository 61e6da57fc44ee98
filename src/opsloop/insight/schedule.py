"""The latest firing of a cron schedule, computed directly (not minute by minute).

Segments and tags refresh "once per firing": the scheduler asks, for each of them,
when its five-field cron (:mod:`opsloop.strategy.cron`, in the bank's time zone) last
fired. Walking back one minute at a time costs up to 10,080 steps per schedule and
week, and misses monthly or yearly schedules that fired longer ago than the lookback.
Here the walk is one step per *day*: a day either matches the day-of-month / month /
day-of-week fields or not, and on a matching day the firing is the largest listed
hour and minute not after ``now`` — so a year back is at most 366 cheap steps, and a
schedule that fires only on 29 February is found up to eight years back.

Local times that do not exist (a spring-forward gap) or exist twice are read as the
zone gives them (``fold=0``); Asia/Shanghai has neither.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from opsloop.strategy.cron import Cron, parse

MAX_LOOKBACK_DAYS = 8 * 366 + 1
"""Far enough for any valid schedule (29 February fires at least every eight years)."""


def latest_fire(
    expr: str | Cron,
    now: dt.datetime,
    zone: ZoneInfo,
    *,
    lookback_days: int = MAX_LOOKBACK_DAYS,
) -> dt.datetime | None:
    """The latest firing minute at or before ``now`` (aware), in UTC; None if none in reach.

    Args:
        expr: a five-field cron expression (or a parsed one).
        now: an aware datetime.
        zone: the zone the schedule is read in.
        lookback_days: how many local days back to look (default: every schedule fires
            within it).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cron = parse(expr) if isinstance(expr, str) else expr
    hours = sorted(cron.hours, reverse=True)
    minutes = sorted(cron.minutes, reverse=True)
    local = now.astimezone(zone)
    day = local.date()
    for back in range(lookback_days + 1):
        if _day_matches(cron, day):
            limit = (local.hour, local.minute) if back == 0 else (23, 59)
            at = _last_time(hours, minutes, limit)
            if at is not None:
                fired = dt.datetime.combine(day, at, tzinfo=zone)
                return fired.astimezone(dt.UTC)
        day -= dt.timedelta(days=1)
    return None


def _day_matches(cron: Cron, day: dt.date) -> bool:
    if day.month not in cron.months:
        return False
    dom = day.day in cron.days
    dow = (day.isoweekday() % 7) in cron.weekdays
    if cron.any_day or cron.any_weekday:
        return dom and dow
    return dom or dow


def _last_time(hours: list[int], minutes: list[int], limit: tuple[int, int]) -> dt.time | None:
    """The latest (hour, minute) of the schedule at or before ``limit`` on one day."""
    for h in hours:  # descending
        if h > limit[0]:
            continue
        top = limit[1] if h == limit[0] else 59
        m = next((m for m in minutes if m <= top), None)
        if m is not None:
            return dt.time(h, m)
    return None


__all__ = ["MAX_LOOKBACK_DAYS", "latest_fire"]
