"""SLA deadlines count working time only: the team's window on the days it works, statutory
holidays off, 调休 make-up days on — across a weekend and across National Day 2026."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huifang.organisation.business_calendar import BusinessCalendar
from huifang.tasks.sla import WorkingTime

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}  # 9 h a day


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def office(hours: Mapping[str, object] = OFFICE, /, **overrides: str) -> WorkingTime:
    days = {date.fromisoformat(d): kind for d, kind in overrides.items()}
    return WorkingTime.of(hours, "Asia/Shanghai", BusinessCalendar(days))


def test_a_weekend_does_not_count() -> None:
    # Friday 16:00 + 24 working hours: 2 on Friday, 9 Monday, 9 Tuesday, 4 on Wednesday.
    due = office().add(at("2026-11-20 16:00"), timedelta(hours=24))
    assert due == at("2026-11-25 13:00")
    assert due.tzinfo == UTC


def test_national_day_2026_is_skipped_and_the_make_up_saturday_is_worked() -> None:
    # Wed 09-30 17:00: 1 h, then 10-01…10-07 off, Thu 10-08 9 h, Fri 10-09 9 h, and the
    # 调休 Saturday 10-10 the last 5 h.
    assert office().add(at("2026-09-30 17:00"), timedelta(hours=24)) == at("2026-10-10 14:00")
    # The Sunday before Mid-Autumn (09-20) is a working day too.
    assert office().add(at("2026-09-19 10:00"), timedelta(hours=3)) == at("2026-09-20 12:00")


def test_time_outside_the_window_waits_for_it_to_open() -> None:
    assert office().add(at("2026-11-19 22:30"), timedelta(hours=1)) == at("2026-11-20 10:00")
    assert office().add(at("2026-11-20 07:00"), timedelta(hours=9)) == at("2026-11-20 18:00")


def test_a_team_working_saturdays_still_has_the_holidays_off() -> None:
    six_days = {**OFFICE, "days": [0, 1, 2, 3, 4, 5]}
    assert office(six_days).add(at("2026-11-20 17:00"), timedelta(hours=2)) == at(
        "2026-11-21 10:00"
    )  # an ordinary Saturday
    assert office(six_days).add(at("2026-09-30 17:00"), timedelta(hours=2)) == at(
        "2026-10-08 10:00"
    )  # Saturday 10-03 is National Day


def test_the_admins_own_days_off_and_working_days_count() -> None:
    calendar = {"2026-11-23": "holiday", "2026-11-22": "workday"}  # Monday off, Sunday on
    hours = office(**calendar)
    # Friday 1 h, then Sunday (a working day here) 9 h …
    assert hours.add(at("2026-11-20 17:00"), timedelta(hours=10)) == at("2026-11-22 18:00")
    # … and Monday is off, so the 11th hour is on Tuesday.
    assert hours.add(at("2026-11-20 17:00"), timedelta(hours=11)) == at("2026-11-24 10:00")


def test_a_negative_sla_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        office().add(at("2026-11-20 10:00"), timedelta(hours=-1))


@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 20)),
    minutes=st.integers(min_value=0, max_value=200 * 60),
    more=st.integers(min_value=1, max_value=600),
)
def test_the_deadline_leaves_exactly_the_sla_in_working_time(
    start: datetime, minutes: int, more: int
) -> None:
    hours = office()
    begin = start.replace(tzinfo=SHANGHAI)
    due = hours.add(begin, timedelta(minutes=minutes))
    assert hours.between(begin, due) == timedelta(minutes=minutes)
    assert hours.add(begin, timedelta(minutes=minutes + more)) > due
    local = due.astimezone(SHANGHAI)
    assert hours.works(local.date()) and "09:00" <= local.strftime("%H:%M") <= "18:00"


def test_the_warning_before_a_deadline_counts_working_hours_back() -> None:
    # Due Tuesday 10:00; two working hours before is Monday 17:00, not Tuesday 08:00.
    assert office().back(at("2026-11-03 10:00"), timedelta(hours=2)) == at("2026-11-02 17:00")
    # Due the Monday after National Day week's make-up Saturday: back over the Sunday.
    assert office().back(at("2026-10-12 09:30"), timedelta(hours=1)) == at("2026-10-10 17:30")


@given(
    end=st.datetimes(min_value=datetime(2026, 1, 10), max_value=datetime(2026, 12, 31)),
    minutes=st.integers(min_value=0, max_value=200 * 60),
)
def test_back_leaves_exactly_the_duration_in_working_time(end: datetime, minutes: int) -> None:
    hours = office()
    finish = end.replace(tzinfo=SHANGHAI)
    start = hours.back(finish, timedelta(minutes=minutes))
    assert start <= finish
    assert hours.between(start, finish) == timedelta(minutes=minutes)
    local = start.astimezone(SHANGHAI)
    assert hours.works(local.date()) and "09:00" <= local.strftime("%H:%M") <= "18:00"
