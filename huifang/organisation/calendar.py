"""The holiday calendar as an admin edits it: a year at a glance, marking single days, importing
a year's official schedule, and which years are covered at all.

The engine reads the same ``CalendarDay`` rows through ``business_calendar.BusinessCalendar``;
nothing here changes how a day is judged, only which rows exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import chinese_calendar
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.audit import services as audit
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.models import CalendarDay

from .models import CalendarYear

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_LINES = 2000
MAX_RANGE_DAYS = 31

# chinese-calendar names its holidays in English; the page shows them in the reader's language.
HOLIDAY_NAMES: dict[str, Promise] = {
    "New Year's Day": gettext_lazy("New Year's Day"),
    "Spring Festival": gettext_lazy("Spring Festival"),
    "Tomb-sweeping Day": gettext_lazy("Tomb-sweeping Day"),
    "Labour Day": gettext_lazy("Labour Day"),
    "Dragon Boat Festival": gettext_lazy("Dragon Boat Festival"),
    "National Day": gettext_lazy("National Day"),
    "Mid-autumn Festival": gettext_lazy("Mid-autumn Festival"),
    "Anti-Fascist 70th Day": gettext_lazy("Victory Day (70th anniversary)"),
}

# What a line of an imported schedule may call a day off and a working day.
KIND_WORDS = {
    "holiday": CalendarDay.Kind.HOLIDAY,
    "off": CalendarDay.Kind.HOLIDAY,
    "休": CalendarDay.Kind.HOLIDAY,
    "假": CalendarDay.Kind.HOLIDAY,
    "workday": CalendarDay.Kind.WORKDAY,
    "work": CalendarDay.Kind.WORKDAY,
    "班": CalendarDay.Kind.WORKDAY,
}


# -- a year at a glance ---------------------------------------------------------------------


@dataclass
class Day:
    day: date
    statutory: str  # "holiday", "shift" (a 调休 working weekend), "weekend" or "" (a working day)
    statutory_name: str | Promise
    mark: str  # the admin's CalendarDay kind, or ""
    mark_name: str
    working: bool  # as the engine judges it

    @property
    def css(self) -> str:
        classes = ["day"]
        if not self.working:
            named = self.mark == CalendarDay.Kind.HOLIDAY or self.statutory == "holiday"
            classes.append("day-holiday" if named else "day-weekend")
        elif self.day.weekday() >= 5:
            classes.append("day-shift")
        if self.mark:
            classes.append("day-marked")
        return " ".join(classes)

    @property
    def name(self) -> str | Promise:
        return self.mark_name or self.statutory_name

    @property
    def iso(self) -> str:
        return self.day.isoformat()

    @property
    def title(self) -> str:
        parts = [self.iso, str(_("Working day") if self.working else _("Day off"))]
        if self.name:
            parts.append(str(self.name))
        if self.mark:
            parts.append(_("marked by an admin"))
        return " · ".join(parts)


@dataclass
class Month:
    number: int
    first: date
    weeks: list[list[Day | None]] = field(default_factory=list)


def statutory(day: date) -> tuple[str, str | Promise]:
    """How the bundled data (or, for a year it does not know, the week) sees ``day``."""
    try:
        off, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return ("weekend" if day.weekday() >= 5 else ""), ""
    label = HOLIDAY_NAMES.get(name, name) if name else ""
    if off:
        return ("holiday" if name else "weekend"), label
    return ("shift" if day.weekday() >= 5 else ""), (label if day.weekday() >= 5 else "")


def day_of(day: date, marks: dict[date, tuple[str, str]]) -> Day:
    kind, name = statutory(day)
    mark, mark_name = marks.get(day, ("", ""))
    working = BusinessCalendar({day: mark} if mark else {}).is_working_day(day)
    return Day(day, kind, name, mark, mark_name, working)


def marks_between(first: date, last: date) -> dict[date, tuple[str, str]]:
    rows = CalendarDay.objects.filter(date__range=(first, last)).values_list("date", "kind", "name")
    return {d: (kind, name) for d, kind, name in rows}


def year_grid(year: int) -> list[Month]:
    """Twelve months of weeks (Monday first) with every day as the engine judges it."""
    marks = marks_between(date(year, 1, 1), date(year, 12, 31))
    months = []
    for number in range(1, 13):
        first = date(year, number, 1)
        month = Month(number, first)
        week: list[Day | None] = [None] * first.weekday()
        day = first
        while day.month == number:
            week.append(day_of(day, marks))
            if len(week) == 7:
                month.weeks.append(week)
                week = []
            day += timedelta(days=1)
        if week:
            month.weeks.append(week + [None] * (7 - len(week)))
        months.append(month)
    return months


# -- marking one day -----------------------------------------------------------------------


def toggle_day(day: date, *, name: str = "", actor: Any = None) -> Day:
    """Unmark a day the admin marked; otherwise mark it the opposite of what it is: a working
    day becomes a day off, a weekend or holiday a (调休) working day."""
    with transaction.atomic():
        deleted, _kinds = CalendarDay.objects.filter(date=day).delete()
        if not deleted:
            kind = (
                CalendarDay.Kind.HOLIDAY
                if BusinessCalendar().is_working_day(day)
                else CalendarDay.Kind.WORKDAY
            )
            try:
                with transaction.atomic():
                    CalendarDay.objects.create(
                        date=day, kind=kind, name=name.strip()[:100], created_by=actor
                    )
            except IntegrityError:
                pass  # another admin marked it in the same instant: theirs stands
        audit.record(
            audit.Action.SETTINGS,
            "calendar day",
            actor=actor,
            object_type="organisation.calendarday",
            object_id=day.isoformat(),
            object_repr=day.isoformat(),
            details={"unmarked": True} if deleted else {"marked": str(kind), "name": name[:100]},
        )
    return day_of(day, marks_between(day, day))


# -- importing an official schedule ----------------------------------------------------------

_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_RANGE = re.compile(r"\s*(?:\.\.|~|～|—|至)\s*")
_SPLIT = re.compile(r"\s*[,，\t]\s*")


@dataclass(frozen=True)
class ImportedDay:
    day: date
    kind: str
    name: str
    line: int


@dataclass
class ImportResult:
    created: int
    updated: int
    years: list[int]


def _date(text: str) -> date | None:
    found = _DATE.match(text.strip())
    if not found:
        return None
    try:
        return date(*(int(part) for part in found.groups()))
    except ValueError:
        return None


def _line_error(line: int, message: str) -> str:
    return _("Line %(line)d: %(problem)s") % {"line": line, "problem": message}


def _days_of(text: str) -> list[date] | str:
    """The dates a line's first column names (one, or a range ``a..b``), or a problem."""
    ends = _RANGE.split(text.strip(), maxsplit=1)
    parsed = [_date(end) for end in ends]
    if any(d is None for d in parsed):
        return _("“%(value)s” is not a date written as 2027-01-01.") % {"value": text.strip()}
    first, last = parsed[0], parsed[-1]
    assert first is not None and last is not None
    if not FIRST_YEAR <= first.year <= LAST_YEAR or not FIRST_YEAR <= last.year <= LAST_YEAR:
        return _("the year must be between %(first)d and %(last)d.") % {
            "first": FIRST_YEAR,
            "last": LAST_YEAR,
        }
    if last < first or (last - first).days >= MAX_RANGE_DAYS:
        return _("a range goes forward and spans at most %(days)d days.") % {"days": MAX_RANGE_DAYS}
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def parse_schedule(text: str) -> list[ImportedDay]:
    """Read ``date,kind[,name]`` lines (``2027-02-07,workday,春节调休``; a date may be a range
    ``2027-10-01..2027-10-07``). Raise ``ValidationError`` naming every bad line."""
    errors: list[str] = []
    found: dict[date, ImportedDay] = {}
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise ValidationError(
            _("A schedule has at most %(count)d lines.") % {"count": MAX_LINES}, code="too_long"
        )
    for number, raw in enumerate(lines, start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        parts = _SPLIT.split(line, maxsplit=2)
        if not found and not errors and parts[0].lower() in ("date", "日期"):
            continue  # a header row
        if len(parts) < 2:
            errors.append(
                _line_error(number, _("write a date, then holiday or workday, then a name."))
            )
            continue
        days = _days_of(parts[0])
        kind = KIND_WORDS.get(parts[1].lower())
        name = parts[2].strip().strip('"') if len(parts) > 2 else ""
        if isinstance(days, str):
            errors.append(_line_error(number, days))
            continue
        if kind is None:
            errors.append(
                _line_error(
                    number,
                    _("“%(value)s” is neither holiday nor workday.") % {"value": parts[1]},
                )
            )
            continue
        if len(name) > 100:
            errors.append(_line_error(number, _("the name is longer than 100 characters.")))
            continue
        for day in days:
            earlier = found.get(day)
            if earlier is not None and earlier.kind != kind:
                errors.append(
                    _line_error(
                        number,
                        _("%(date)s is already marked differently on line %(other)d.")
                        % {"date": day.isoformat(), "other": earlier.line},
                    )
                )
                break
            found[day] = ImportedDay(day, kind, name, number)
    if errors:
        raise ValidationError(errors, code="bad_lines")
    return sorted(found.values(), key=lambda d: d.day)


def import_schedule(text: str, *, official: bool = True, actor: Any = None) -> ImportResult:
    """Store every day of a schedule, or none of them: a day already marked takes the file's
    kind and name. ``official``: the file is a year's whole official schedule, so the years it
    covers stop being reported as missing."""
    days = parse_schedule(text)
    if not days:
        raise ValidationError(_("The file has no days in it."), code="empty")
    with transaction.atomic():
        existing = set(
            CalendarDay.objects.filter(date__in=[d.day for d in days]).values_list(
                "date", flat=True
            )
        )
        CalendarDay.objects.bulk_create(
            [CalendarDay(date=d.day, kind=d.kind, name=d.name, created_by=actor) for d in days],
            update_conflicts=True,
            unique_fields=["date"],
            update_fields=["kind", "name"],
        )
        years = sorted({d.day.year for d in days})
        if official:
            for year in years:
                CalendarYear.objects.update_or_create(
                    year=year,
                    defaults={
                        "source": CalendarYear.Source.IMPORT,
                        "days": sum(1 for d in days if d.day.year == year),
                        "recorded_by": actor,
                    },
                )
        audit.record(
            audit.Action.SETTINGS,
            "calendar import",
            actor=actor,
            object_type="organisation.calendar",
            object_repr=", ".join(str(y) for y in years),
            details={"days": len(days), "official": official},
        )
    return ImportResult(len(days) - len(existing), len(existing), years)


def confirm_year(year: int, *, actor: Any = None) -> None:
    """The admin says they entered ``year``'s official schedule by hand."""
    with transaction.atomic():
        CalendarYear.objects.update_or_create(
            year=year, defaults={"source": CalendarYear.Source.MANUAL, "recorded_by": actor}
        )
        audit.record(
            audit.Action.SETTINGS,
            "calendar year confirmed",
            actor=actor,
            object_type="organisation.calendar",
            object_repr=str(year),
        )


# -- which years are covered -----------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    year: int
    bundled: bool
    entered: CalendarYear | None

    @property
    def covered(self) -> bool:
        return self.bundled or self.entered is not None


def coverage(years: Iterable[int]) -> list[Coverage]:
    wanted = sorted(set(years))
    entered = CalendarYear.objects.select_related("recorded_by").in_bulk(wanted)
    calendar = BusinessCalendar()
    return [Coverage(y, calendar.knows_statutory_year(y), entered.get(y)) for y in wanted]
