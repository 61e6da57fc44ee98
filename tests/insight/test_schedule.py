"""The latest cron firing, computed day by day, equals a minute-by-minute brute force."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.insight.schedule import latest_fire
from opsloop.strategy.cron import parse

ZONE = ZoneInfo("Asia/Shanghai")


def brute_force(expr: str, now: dt.datetime, days: int) -> dt.datetime | None:
    """Every minute back from ``now`` (local), the first that matches."""
    cron = parse(expr)
    local = now.astimezone(ZONE).replace(second=0, microsecond=0)
    for _ in range(days * 24 * 60 + 1):
        if cron.matches(local):
            return local.astimezone(dt.UTC)
        local -= dt.timedelta(minutes=1)
    return None


def field(values: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


EXPRS = st.builds(
    lambda *parts: " ".join(parts),
    field(["*", "0", "30", "*/15", "5,45", "59", "10-20"]),
    field(["*", "0", "2", "23", "9-17", "*/6", "1,13"]),
    field(["*", "*", "1", "15", "28-31", "31", "*/10"]),
    field(["*", "*", "*", "1", "2", "6-8", "1,7"]),
    field(["*", "*", "0", "1-5", "6", "7"]),
)
NOWS = st.datetimes(
    min_value=dt.datetime(2023, 1, 1),
    max_value=dt.datetime(2028, 12, 31),
    timezones=st.just(dt.UTC),
)


@settings(max_examples=150, deadline=None)
@given(expr=EXPRS, now=NOWS)
def test_equals_minute_walk(expr: str, now: dt.datetime) -> None:
    days = 3
    want = brute_force(expr, now, days)
    got = latest_fire(expr, now, ZONE)
    if want is not None:
        assert got == want
    else:  # it fired before the brute force's reach, or never
        assert got is None or got < now - dt.timedelta(days=days)
    if got is not None:
        assert got <= now and parse(expr).matches(got.astimezone(ZONE))
        assert got.second == 0 and got.tzinfo == dt.UTC


def test_far_in_the_past() -> None:
    now = dt.datetime(2026, 11, 24, 1, 0, tzinfo=dt.UTC)
    # yearly, 1 January 03:00 local: ten and a half months ago
    assert latest_fire("0 3 1 1 *", now, ZONE) == dt.datetime(2025, 12, 31, 19, 0, tzinfo=dt.UTC)
    # 29 February 12:00 local: the last leap day, 2024
    assert latest_fire("0 12 29 2 *", now, ZONE) == dt.datetime(2024, 2, 29, 4, 0, tzinfo=dt.UTC)
    assert latest_fire("0 12 29 2 *", now, ZONE, lookback_days=365) is None
    # the minute now is in fires (seconds ignored), later minutes today do not
    at = dt.datetime(2026, 11, 24, 1, 0, 40, tzinfo=dt.UTC)  # 09:00:40 local
    assert latest_fire("0 9 * * *", at, ZONE) == at.replace(second=0)
    assert latest_fire("1 9 * * *", at, ZONE) == dt.datetime(2026, 11, 23, 1, 1, tzinfo=dt.UTC)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        latest_fire("* * * * *", dt.datetime(2026, 1, 1), ZONE)
