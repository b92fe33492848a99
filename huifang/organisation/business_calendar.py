"""Which days are working days: China's statutory holidays and 调休, plus the admin's own days.

The bundled ``chinese-calendar`` data knows each year's official schedule once the State
Council has published it (up to 2026 in the installed release). ``CalendarDay`` rows override it:
a company's extra day off, a 调休 Saturday, or the whole official schedule of a year the library
does not know yet. For such a year, and with no rows, weekends are the only days off.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import chinese_calendar

from huifang.core import held
from huifang.organisation.models import CalendarDay


class BusinessCalendar:
    def __init__(self, overrides: Mapping[date, str] | None = None) -> None:
        self.overrides = dict(overrides or {})

    @classmethod
    def load(cls) -> BusinessCalendar:
        """The calendar with every admin-defined day (a few hundred rows at most); read once
        within ``held.block()``."""
        return held.once(
            "business_calendar", lambda: cls(dict(CalendarDay.objects.values_list("date", "kind")))
        )

    def is_working_day(self, day: date) -> bool:
        kind = self.overrides.get(day)
        if kind is not None:
            return kind == CalendarDay.Kind.WORKDAY
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # a year the bundled data does not cover
            return day.weekday() < 5

    def is_holiday(self, day: date) -> bool:
        """A named day off — a statutory holiday or the admin's — as opposed to a plain
        weekend: a team that works Saturdays still has 国庆 off."""
        kind = self.overrides.get(day)
        if kind is not None:
            return kind == CalendarDay.Kind.HOLIDAY
        try:
            off, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            return False
        return bool(off and name)

    def knows_statutory_year(self, year: int) -> bool:
        """Whether the bundled data has this year's official schedule."""
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def next_working_day(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first one after it."""
        for offset in range(366):
            candidate = day + timedelta(days=offset)
            if self.is_working_day(candidate):
                return candidate
        raise ValueError(f"no working day within a year of {day}")

    def add_working_days(self, day: date, count: int) -> date:
        """The working day ``count`` working days after ``day`` (``count`` ≥ 0)."""
        current = day
        remaining = count
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current
