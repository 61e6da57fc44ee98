"""The business calendar for waits: weekends, public holidays and 调休 working weekends.

Chinese banks move working days around holidays (a Saturday becomes a working day
when the holiday week is bridged), so "two business days" cannot be computed from
the weekday alone; the calendar is a small config the bank maintains once a year.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class BusinessCalendar(BaseModel):
    """Working days: Monday–Friday, minus ``holidays``, plus ``working_weekends``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holidays: frozenset[dt.date] = Field(default_factory=frozenset)
    working_weekends: frozenset[dt.date] = Field(default_factory=frozenset)

    def is_business_day(self, day: dt.date) -> bool:
        if day in self.working_weekends:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def next_business_day(self, day: dt.date) -> dt.date:
        """``day`` itself when it is a business day, else the next one."""
        for _ in range(400):
            if self.is_business_day(day):
                return day
            day += dt.timedelta(days=1)
        raise ValueError("no business day within 400 days; check the calendar")

    def add_business_days(self, at: dt.datetime, n: int) -> dt.datetime:
        """``at`` moved forward by ``n`` business days, keeping the time of day."""
        day = at.date()
        for _ in range(n):
            day = self.next_business_day(day + dt.timedelta(days=1))
        return dt.datetime.combine(day, at.timetz())
