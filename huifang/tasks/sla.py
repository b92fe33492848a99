"""SLA deadlines in working time (工作时间): "72 h must-reach" counts only the hours a team works.

The clock runs inside the team's daily window (e.g. 09:00–18:00, in the team's time zone) on the
days it works:

- a named day off — a statutory holiday (国庆节, 春节 …) or one the admin added to the calendar —
  is never worked;
- an official make-up working day (调休, e.g. Saturday 2026-10-10) is worked;
- any other day is worked when its weekday is among the team's days, so a team that works
  Saturdays works ordinary Saturdays, and a Monday-to-Friday team does not.

Times are counted on the wall clock of the team's zone and returned in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.zones import zone as zone_named

# Ten years of days: a team whose hours make no day workable is a configuration error.
_HORIZON_DAYS = 3660


@dataclass(frozen=True)
class WorkingTime:
    days: frozenset[int]  # weekdays, Monday = 0
    opens: time
    closes: time
    zone: ZoneInfo
    calendar: BusinessCalendar

    @classmethod
    def of(
        cls, hours: Mapping[str, Any], zone: str | ZoneInfo, calendar: BusinessCalendar
    ) -> WorkingTime:
        """From a team's ``working_hours`` (``{"days": [0, 1, 2, 3, 4], "start": "09:00",
        "end": "18:00"}``) and time zone."""
        return cls(
            frozenset(int(d) for d in hours["days"]),
            time.fromisoformat(hours["start"]),
            time.fromisoformat(hours["end"]),
            zone if isinstance(zone, ZoneInfo) else zone_named(zone),
            calendar,
        )

    def works(self, day: date) -> bool:
        if self.calendar.is_holiday(day):
            return False
        if day.weekday() >= 5 and self.calendar.is_working_day(day):
            return True  # 调休: the official schedule makes this weekend day a working one
        return day.weekday() in self.days

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` (aware). Time before the
        window opens, after it closes and on days off does not count."""
        if duration < timedelta(0):
            raise ValueError("an SLA cannot be negative")
        local = start.astimezone(self.zone).replace(tzinfo=None)
        remaining = duration
        day, cursor = local.date(), local
        for _ in range(_HORIZON_DAYS):
            if self.works(day):
                begin = max(cursor, datetime.combine(day, self.opens))
                close = datetime.combine(day, self.closes)
                if begin < close:
                    if remaining <= close - begin:
                        return (begin + remaining).replace(tzinfo=self.zone).astimezone(UTC)
                    remaining -= close - begin
            day += timedelta(days=1)
            cursor = datetime.combine(day, time.min)
        raise ValueError("these working hours leave no working time within ten years")

    def back(self, end: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time before ``end`` (aware): ``add`` backwards,
        for "remind two working hours before the SLA ends"."""
        local = end.astimezone(self.zone).replace(tzinfo=None)
        remaining, day, cursor = duration, local.date(), local
        for _ in range(_HORIZON_DAYS):
            if self.works(day):
                begin = datetime.combine(day, self.opens)
                close = min(cursor, datetime.combine(day, self.closes))
                if begin < close:
                    if remaining <= close - begin:
                        return (close - remaining).replace(tzinfo=self.zone).astimezone(UTC)
                    remaining -= close - begin
            day -= timedelta(days=1)
            cursor = datetime.combine(day, time.max)
        raise ValueError("these working hours leave no working time within ten years")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end`` (zero if ``end`` is not later): how much of
        an SLA is used up, or how late a task is in working hours."""
        first = start.astimezone(self.zone).replace(tzinfo=None)
        last = end.astimezone(self.zone).replace(tzinfo=None)
        total = timedelta(0)
        day = first.date()
        while day <= last.date():
            if self.works(day):
                begin = max(first, datetime.combine(day, self.opens))
                close = min(last, datetime.combine(day, self.closes))
                if begin < close:
                    total += close - begin
            day += timedelta(days=1)
        return total
