"""Report periods (报表周期): whole organisation-local days, bucketed by day, week or month.

A period is ``[first, last]`` in days (both included), in the organisation's zone, the zone the
rollups are kept in. Its ``previous`` period is the same number of days just before it (this
month's first 6 days against last month's first 6 days would be ``compare_to``: any period the
user picks). Weeks start on Monday and months are calendar months, as in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from django.utils.translation import gettext as _

from huifang.core.limits import EARLIEST_DAY, LATEST_DAY
from huifang.organisation.zones import organisation_zone

GRAINS = ("day", "week", "month")
# What the period picker offers, by the number of days up to and including today.
PRESETS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}
DEFAULT_PRESET = "30d"
# A report covers at most this many days (a year and a leap day, with room for a comparison).
MAX_DAYS = 367


class PeriodError(ValueError):
    """A period that cannot be reported on; the message is for the user."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    grain: str = "day"

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise PeriodError(_("Unknown grain: %(grain)s.") % {"grain": self.grain})
        if self.last < self.first:
            raise PeriodError(_("The period ends before it starts."))
        if self.days > MAX_DAYS:
            raise PeriodError(_("A report covers at most %(days)s days.") % {"days": MAX_DAYS})

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Period:
        """The same number of days just before this period."""
        length = timedelta(days=self.days)
        return replace(self, first=self.first - length, last=self.last - length)

    def buckets(self) -> list[date]:
        """The first day of every bucket of the grain that the period touches, in order."""
        return sorted({bucket(day, self.grain) for day in self.each_day()})

    def each_day(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)

    def as_params(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "grain": self.grain}


def bucket(day: date, grain: str) -> date:
    """The first day of the day's bucket: itself, its week's Monday, its month's first."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def today(now: datetime) -> date:
    return now.astimezone(organisation_zone()).date()


def last_days(days: int, now: datetime, grain: str = "day") -> Period:
    end = today(now)
    return Period(end - timedelta(days=days - 1), end, grain)


def _day(text: str, name: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise PeriodError(
            _("%(name)s is not a date (YYYY-MM-DD): %(value)s") % {"name": name, "value": text}
        ) from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise PeriodError(_("%(name)s is out of range: %(value)s") % {"name": name, "value": text})
    return day


def period_from(params: Mapping[str, str], now: datetime) -> Period:
    """The period a request asks for: ``from`` and ``to`` (dates), or ``period`` (a preset such
    as ``30d``, the default), and ``grain``; a ``PeriodError`` names what is wrong."""
    grain = params.get("grain") or ""
    start, end = params.get("from") or "", params.get("to") or ""
    if start or end:
        if not (start and end):
            raise PeriodError(_("Give both the first and the last day."))
        first, last = _day(start, _("From")), _day(end, _("To"))
        days = (last - first).days + 1
        return Period(first, last, grain or default_grain(days))
    preset = params.get("period") or DEFAULT_PRESET
    if preset not in PRESETS:
        raise PeriodError(_("Unknown period: %(period)s.") % {"period": preset})
    days = PRESETS[preset]
    return last_days(days, now, grain or default_grain(days))


def default_grain(days: int) -> str:
    return "day" if days <= 62 else "week" if days <= 190 else "month"
