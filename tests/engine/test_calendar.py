"""Working days: statutory holidays, 调休, and the admin's own calendar for uncovered years."""

from __future__ import annotations

from datetime import date

import pytest

from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.models import CalendarDay


def test_national_day_2026_is_as_the_official_calendar_says() -> None:
    calendar = BusinessCalendar()
    for day in range(1, 8):
        assert not calendar.is_working_day(date(2026, 10, day)), f"1–7 October are off ({day})"
    assert calendar.is_working_day(date(2026, 9, 20)), "Sunday 20 September is a 调休 workday"
    assert calendar.is_working_day(date(2026, 10, 10)), "Saturday 10 October is a 调休 workday"
    assert calendar.is_working_day(date(2026, 10, 8))
    assert not calendar.is_working_day(date(2026, 10, 11)), "an ordinary Sunday"


def test_the_next_working_day_skips_the_golden_week() -> None:
    calendar = BusinessCalendar()
    assert calendar.next_working_day(date(2026, 9, 30)) == date(2026, 9, 30)
    assert calendar.next_working_day(date(2026, 10, 1)) == date(2026, 10, 8)
    # Friday 9 October + 2 working days: Saturday 10 (调休) and Monday 12
    assert calendar.add_working_days(date(2026, 10, 9), 2) == date(2026, 10, 12)
    assert calendar.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)


@pytest.mark.django_db
def test_a_year_the_bundled_data_lacks_comes_from_the_admin_calendar() -> None:
    calendar = BusinessCalendar.load()
    assert not calendar.knows_statutory_year(2028)
    assert calendar.is_working_day(date(2028, 10, 2))  # a Monday, nothing known yet
    assert not calendar.is_working_day(date(2028, 10, 1))  # a Sunday
    CalendarDay.objects.bulk_create(
        [CalendarDay(date=date(2028, 10, d), kind="holiday", name="国庆节") for d in range(1, 8)]
        + [CalendarDay(date=date(2028, 9, 30), kind="workday", name="国庆节调休")]
    )
    calendar = BusinessCalendar.load()
    assert not calendar.is_working_day(date(2028, 10, 2))
    assert calendar.is_working_day(date(2028, 9, 30))  # a Saturday made a working day
    assert calendar.next_working_day(date(2028, 10, 1)) == date(2028, 10, 9)


@pytest.mark.django_db
def test_admin_days_override_the_bundled_calendar() -> None:
    CalendarDay.objects.create(date=date(2026, 10, 9), kind="holiday", name="公司年会")
    CalendarDay.objects.create(date=date(2026, 10, 3), kind="workday", name="值班")
    calendar = BusinessCalendar.load()
    assert not calendar.is_working_day(date(2026, 10, 9))
    assert calendar.is_working_day(date(2026, 10, 3))
