"""Quiet hours are judged in the customer's zone; nothing is let out inside them."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.quiet_hours import QuietHours, next_allowed

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
DEFAULT = QuietHours()  # 21:00–08:00
CALENDAR = BusinessCalendar()


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(UTC)


def test_a_22_30_message_is_held_until_08_00_local() -> None:
    held = next_allowed(at(SHANGHAI, 2026, 9, 28, 22, 30), SHANGHAI, DEFAULT)
    assert held.astimezone(SHANGHAI) == datetime(2026, 9, 29, 8, 0, tzinfo=SHANGHAI)


def test_an_allowed_moment_is_kept() -> None:
    moment = at(SHANGHAI, 2026, 9, 28, 9, 0)
    assert next_allowed(moment, SHANGHAI, DEFAULT) == moment


def test_the_same_instant_is_judged_in_each_customers_zone() -> None:
    moment = datetime(2026, 9, 28, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai, 09:00 in New York
    assert next_allowed(moment, NEW_YORK, DEFAULT) == moment
    assert next_allowed(moment, SHANGHAI, DEFAULT).astimezone(SHANGHAI).hour == 8


def test_business_days_skip_the_national_day_holiday() -> None:
    moment = at(SHANGHAI, 2026, 9, 30, 21, 15)
    held = next_allowed(moment, SHANGHAI, DEFAULT, working_day=CALENDAR.is_working_day)
    assert held.astimezone(SHANGHAI) == datetime(2026, 10, 8, 8, 0, tzinfo=SHANGHAI)


def test_a_window_inside_the_day_and_an_empty_window() -> None:
    lunch = QuietHours(time(12, 0), time(13, 30))
    held = next_allowed(at(SHANGHAI, 2026, 9, 28, 12, 10), SHANGHAI, lunch)
    assert held.astimezone(SHANGHAI).time() == time(13, 30)
    never = QuietHours(time(9, 0), time(9, 0))
    moment = at(SHANGHAI, 2026, 9, 28, 9, 0)
    assert next_allowed(moment, SHANGHAI, never) == moment


def test_across_the_new_york_spring_forward() -> None:
    # 8 March 2026, 02:00 EST jumps to 03:00 EDT; quiet until 02:30, a time that never happens.
    quiet = QuietHours(time(22, 0), time(2, 30))
    held = next_allowed(at(NEW_YORK, 2026, 3, 7, 23, 0), NEW_YORK, quiet)
    local = held.astimezone(NEW_YORK)
    assert local.date() == datetime(2026, 3, 8).date()
    assert not quiet.contains(local.time())


zones = st.sampled_from([SHANGHAI, NEW_YORK, ZoneInfo("Europe/Berlin")])
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
windows = st.tuples(st.times(), st.times()).map(
    lambda pair: QuietHours(
        pair[0].replace(second=0, microsecond=0), pair[1].replace(second=0, microsecond=0)
    )
)


def allowed(moment: datetime, zone: ZoneInfo, quiet: QuietHours, business: bool) -> bool:
    local = moment.astimezone(zone)
    return not quiet.contains(local.time()) and (
        not business or CALENDAR.is_working_day(local.date())
    )


@settings(max_examples=400, deadline=None)
@given(moment=moments, zone=zones, quiet=windows, business=st.booleans())
def test_nothing_is_let_out_in_quiet_hours_or_on_an_excluded_day(
    moment: datetime, zone: ZoneInfo, quiet: QuietHours, business: bool
) -> None:
    result = next_allowed(
        moment, zone, quiet, working_day=CALENDAR.is_working_day if business else None
    )
    assert result >= moment
    assert allowed(result, zone, quiet, business)
    before = result - timedelta(minutes=1)
    same_offset = before.astimezone(zone).utcoffset() == result.astimezone(zone).utcoffset()
    if result > moment and same_offset:
        # nothing is held longer than needed: a minute earlier was not allowed yet
        assert before < moment or not allowed(before, zone, quiet, business)


def test_quiet_hours_ending_inside_the_spring_forward_gap_release_at_the_jump() -> None:
    # New York, 8 March 2026: clocks jump from 02:00 to 03:00. Quiet until 02:01, which does not
    # exist that night: the first allowed moment is 03:00 EDT (07:00 UTC), not a minute later.
    quiet = QuietHours(time(0, 0), time(2, 1))
    moment = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # midnight in New York
    assert next_allowed(moment, NEW_YORK, quiet) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
