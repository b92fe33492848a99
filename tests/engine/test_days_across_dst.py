"""``days`` are calendar days in the customer's zone: the same wall-clock time N local days later,
23 or 25 hours away across a daylight-saving change; ``hours`` and ``minutes`` stay elapsed
time. Both where the runner waits between steps and where a trigger schedules a first step —
for one event as it arrives, and in SQL for a whole full evaluation."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.engine.models import DueStep, Enrollment
from huifang.engine.triggers import evaluate_all
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.zones import zones_changing
from huifang.rules.document import Duration
from huifang.rules.plans import after

from .world import World, local

NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = BusinessCalendar()
ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Shanghai"]

# 2026 in New York: clocks jump from 02:00 to 03:00 on 8 March, go back from 02:00 to 01:00
# on 1 November.
SPRING = ("2026-03-07T10:00-05:00", "2026-03-08T10:00-04:00")  # 23 hours
AUTUMN = ("2026-10-31T10:00-04:00", "2026-11-01T10:00-05:00")  # 25 hours


def wall_clock_later(moment: datetime, days: int, zone: ZoneInfo) -> datetime:
    """The rule, written out: the same local time ``days`` local days later (fold=0)."""
    begin = moment.astimezone(zone)
    later = datetime.combine(begin.date() + timedelta(days=days), begin.time(), tzinfo=zone)
    return later.astimezone(UTC)


def duration(**units: int) -> Duration:
    return Duration.model_construct(**units)  # type: ignore[arg-type]


# -- the rule itself -------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "due"), [SPRING, AUTUMN])
def test_a_day_keeps_the_wall_clock_across_a_daylight_saving_change(start: str, due: str) -> None:
    assert after(local(start), duration(days=1), NEW_YORK, CALENDAR) == local(due)


@pytest.mark.parametrize("start", [SPRING[0], AUTUMN[0]])
def test_hours_stay_elapsed_time(start: str) -> None:
    moment = local(start)
    assert after(moment, duration(hours=24), NEW_YORK, CALENDAR) == moment + timedelta(hours=24)
    assert after(moment, duration(minutes=90), NEW_YORK, CALENDAR) == moment + timedelta(minutes=90)


def test_in_shanghai_a_day_is_always_24_hours() -> None:
    moment = local("2026-03-07 10:00")
    assert after(moment, duration(days=1), SHANGHAI, CALENDAR) == moment + timedelta(days=1)


def test_days_first_then_elapsed_hours() -> None:
    # 7 March 22:00 + 1 day = 8 March 22:00 EDT; + 3 hours = 9 March 01:00 EDT.
    moment = local("2026-03-07T22:00-05:00")
    due = after(moment, duration(days=1, hours=3), NEW_YORK, CALENDAR)
    assert due == local("2026-03-09T01:00-04:00")


def test_a_time_the_clocks_skip_is_shifted_forward_by_the_jump() -> None:
    # 02:30 on 8 March does not exist in New York: read with the offset before the jump, i.e.
    # 03:30 EDT, 24 hours after 7 March 02:30 EST.
    due = after(local("2026-03-07T02:30-05:00"), duration(days=1), NEW_YORK, CALENDAR)
    assert due == local("2026-03-08T03:30-04:00")


def test_a_time_that_happens_twice_is_the_first_of_the_two() -> None:
    # 01:30 on 1 November happens at -04:00 and again at -05:00: the first one.
    due = after(local("2026-10-31T01:30-04:00"), duration(days=1), NEW_YORK, CALENDAR)
    assert due == local("2026-11-01T01:30-04:00")
    # Also when the start itself was the second 01:30 (US clocks go back on 7 November 2027).
    second = local("2026-11-01T01:30-05:00")
    due = after(second, duration(days=371), NEW_YORK, CALENDAR)
    assert due == local("2027-11-07T01:30-04:00")


def test_business_days_still_keep_the_wall_clock() -> None:
    # Friday 6 March 10:00 + 1 business day = Monday 9 March 10:00, after the change.
    due = after(local("2026-03-06T10:00-05:00"), duration(business_days=1), NEW_YORK, CALENDAR)
    assert due == local("2026-03-09T10:00-04:00")


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(ZONES),
    start=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    days=st.integers(0, 400),
)
def test_days_land_on_the_same_local_time_n_local_days_later(
    name: str, start: datetime, days: int
) -> None:
    zone = ZoneInfo(name)
    due = after(start, duration(days=days), zone, CALENDAR).astimezone(zone)
    begin = start.astimezone(zone)
    wanted = datetime.combine(begin.date() + timedelta(days=days), begin.time())
    exists = datetime.combine(wanted.date(), wanted.time(), tzinfo=zone)
    if exists.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wanted:
        assert due.replace(tzinfo=None) == wanted
        # Of two such moments, the first.
        assert due.astimezone(UTC) <= exists.replace(fold=1).astimezone(UTC)
    else:  # skipped by the clocks: shifted forward by the jump
        jump = exists.replace(fold=1).utcoffset() - exists.utcoffset()  # type: ignore[operator]
        assert due.replace(tzinfo=None) == wanted + jump


def test_only_zones_that_change_their_offset_need_their_days_counted() -> None:
    spring = zones_changing(date(2026, 3, 5), date(2026, 3, 10))
    assert {"America/New_York", "America/Chicago"} <= spring
    assert not {"Asia/Shanghai", "Europe/Berlin", "Australia/Sydney"} & spring
    assert "Asia/Shanghai" not in zones_changing(date(2026, 1, 1), date(2027, 1, 1))


# -- between steps: the runner ---------------------------------------------------------------


def cadence(wait: dict[str, Any], *, key: str = "wait-then-send") -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "trigger": {"kind": "event", "event": "purchase"},
        "steps": [
            {"id": "first", "send": {"channel": "sms", "template": "first"}, **wait},
            {"id": "second", "send": {"channel": "sms", "template": "second"}},
        ],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "due"), [SPRING, AUTUMN])
def test_wait_days_between_steps_keep_the_customers_wall_clock(start: str, due: str) -> None:
    world = World(local(start))
    world.rule(cadence({"wait": {"days": 1}}))
    customer = world.customer("纽约客户", zone="America/New_York")
    world.event(customer, "purchase", amount=100)
    world.run()
    timeout = DueStep.objects.get(kind=DueStep.Kind.TIMEOUT)
    assert timeout.due_at == local(due)
    world.travel(local(due) + timedelta(hours=3))
    first, second = world.sent(customer)
    assert first.sent_at == local(start)
    assert second.sent_at == local(due)


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "due"), [SPRING, AUTUMN])
def test_a_reply_wait_of_days_times_out_at_the_same_wall_clock(start: str, due: str) -> None:
    world = World(local(start))
    world.rule(cadence({"wait_reply": {"days": 1}}))
    customer = world.customer("纽约客户", zone="America/New_York")
    world.event(customer, "purchase", amount=100)
    world.run()
    assert DueStep.objects.get(kind=DueStep.Kind.TIMEOUT).due_at == local(due)


@pytest.mark.django_db
@pytest.mark.parametrize("start", [SPRING[0], AUTUMN[0]])
def test_wait_hours_between_steps_stay_elapsed(start: str) -> None:
    world = World(local(start))
    world.rule(cadence({"wait": {"hours": 24}}))
    customer = world.customer("纽约客户", zone="America/New_York")
    world.event(customer, "purchase", amount=100)
    world.run()
    due = DueStep.objects.get(kind=DueStep.Kind.TIMEOUT).due_at
    assert due == local(start) + timedelta(hours=24)


@pytest.mark.django_db
def test_wait_days_in_shanghai_are_24_hours() -> None:
    world = World(local("2026-03-07 10:00"))
    world.rule(cadence({"wait": {"days": 1}}))
    customer = world.customer()
    world.event(customer, "purchase", amount=100)
    world.run()
    assert DueStep.objects.get(kind=DueStep.Kind.TIMEOUT).due_at == local("2026-03-08 10:00")


# -- the first step: triggers ----------------------------------------------------------------


def delayed(delay: dict[str, int]) -> dict[str, Any]:
    return {
        "key": "after-purchase",
        "name": "after-purchase",
        "trigger": {"kind": "event", "event": "purchase", "delay": delay},
        "steps": [{"id": "hello", "send": {"channel": "sms", "template": "hello"}}],
    }


def first_due(customer_id: int) -> datetime:
    return DueStep.objects.get(kind=DueStep.Kind.RUN, enrollment__customer_id=customer_id).due_at


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "due"), [SPRING, AUTUMN])
def test_an_event_delay_of_days_keeps_the_wall_clock(start: str, due: str) -> None:
    world = World(local(start))
    world.rule(delayed({"days": 1}))
    new_york = world.customer("纽约客户", zone="America/New_York")
    shanghai = world.customer("上海客户")
    world.event(new_york, "purchase", amount=100)
    world.event(shanghai, "purchase", amount=100)
    assert first_due(new_york.pk) == local(due)
    assert first_due(shanghai.pk) == local(start) + timedelta(days=1)
    world.travel(local(due) + timedelta(hours=3))
    (message,) = world.sent(new_york)
    assert message.sent_at == local(due)


@pytest.mark.django_db
def test_an_event_delay_of_hours_stays_elapsed() -> None:
    world = World(local(SPRING[0]))
    world.rule(delayed({"hours": 24}))
    customer = world.customer("纽约客户", zone="America/New_York")
    world.event(customer, "purchase", amount=100)
    assert first_due(customer.pk) == local(SPRING[0]) + timedelta(hours=24)


# Purchases before, across and after the 2026 changes in New York (8 March, 1 November),
# Berlin (29 March, 25 October) and Sydney (5 April, 4 October), and in Shanghai.
PURCHASES = [
    "2026-03-06T23:30-05:00",
    "2026-03-07T02:30-05:00",
    "2026-03-07T10:00-05:00",
    "2026-03-08T01:59-05:00",
    "2026-03-08T03:00-04:00",
    "2026-03-28T02:30+01:00",
    "2026-03-28T12:00+01:00",
    "2026-04-04T02:30+11:00",
    "2026-04-04T12:00+11:00",
    "2026-10-03T02:30+10:00",
    "2026-10-24T02:30+02:00",
    "2026-10-31T01:30-04:00",
    "2026-10-31T10:00-04:00",
    "2026-11-01T01:30-05:00",
]


@pytest.mark.django_db
@pytest.mark.parametrize("days", [1, 3])
def test_a_full_evaluation_counts_days_in_each_customers_zone(days: int) -> None:
    # The first steps of a full evaluation are scheduled in SQL, all at once; each must still
    # be due at its purchase's wall-clock time, N days later in its customer's zone. The
    # purchases are stamped ahead of the evaluation so that one evaluation spans every change.
    world = World(local("2026-01-01 10:00"))
    people = []
    for n, purchase in enumerate(PURCHASES):
        for name in ZONES:
            customer = world.customer(f"客户{n}", zone=name)
            world.event(customer, "purchase", at=local(purchase), amount=100)
            people.append((customer.pk, local(purchase), ZoneInfo(name)))
    world.rule(delayed({"days": days}))
    assert evaluate_all(world.now) == {"after-purchase": len(people)}
    dues = dict(
        DueStep.objects.filter(kind=DueStep.Kind.RUN).values_list(
            "enrollment__customer_id", "due_at"
        )
    )
    assert dues == {pk: wall_clock_later(at, days, zone) for pk, at, zone in people}
    for pk, at, zone in people:
        if zone == NEW_YORK and at == local(SPRING[0]):
            assert dues[pk].astimezone(NEW_YORK).time() == time(10, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(("start", "due"), [SPRING, AUTUMN])
def test_a_full_evaluation_schedules_the_first_step_at_the_same_wall_clock(
    start: str, due: str
) -> None:
    world = World(local(start))
    new_york = world.customer("纽约客户", zone="America/New_York")
    shanghai = world.customer("上海客户")
    world.event(new_york, "purchase", amount=100)
    world.event(shanghai, "purchase", amount=100)
    world.rule(delayed({"days": 1}))
    assert evaluate_all(world.now) == {"after-purchase": 2}
    assert first_due(new_york.pk) == local(due)
    assert first_due(shanghai.pk) == local(start) + timedelta(days=1)


@pytest.mark.django_db
@pytest.mark.parametrize("full", [False, True])
def test_a_first_step_the_short_day_puts_past_the_grace_enrolls_nobody(full: bool) -> None:
    # Bought 7 March 10:00 EST, due 8 March 10:00 EDT (14:00 UTC). Seen 12 h 30 min after
    # that: past the misfire grace, though within it had the day been 24 hours long.
    seen = local("2026-03-09T02:30+00:00")
    world = World(seen if not full else local(SPRING[0]))
    customer = world.customer("纽约客户", zone="America/New_York")
    if full:
        world.event(customer, "purchase", amount=100)
        world.rule(delayed({"days": 1}))
        assert evaluate_all(seen) == {"after-purchase": 0}
    else:
        world.rule(delayed({"days": 1}))
        world.event(customer, "purchase", at=local(SPRING[0]), amount=100)
    assert not Enrollment.objects.exists()
    assert not DueStep.objects.exists()
