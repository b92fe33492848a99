"""Every trigger kind: event delays in business days, dates in the customer's zone, segment
entry, and recurring turns spread over the period — each enrolling a customer once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from huifang.customers.models import Customer
from huifang.engine.models import DueStep, Enrollment

from .world import World, local

pytestmark = pytest.mark.django_db

SEND = [{"id": "hello", "send": {"channel": "sms", "template": "t"}}]


def rule(key: str, trigger: dict, **extra: object) -> dict:
    return {"key": key, "name": key, "trigger": trigger, "steps": SEND, **extra}


@pytest.mark.parametrize(
    ("closed", "days", "due"),
    [
        ("2026-09-25 10:00", 1, "2026-09-28 10:00"),  # Friday + 1 → Monday
        ("2026-09-30 10:00", 1, "2026-10-08 10:00"),  # National Day 1–7 October off
        ("2026-09-30 10:00", 2, "2026-10-09 10:00"),
        ("2026-09-30 10:00", 3, "2026-10-10 10:00"),  # Saturday 10 October is a 调休 workday
        ("2026-09-19 10:00", 1, "2026-09-20 10:00"),  # Sunday 20 September is a 调休 workday
    ],
)
def test_event_delay_in_business_days(closed: str, days: int, due: str) -> None:
    world = World(local(closed))
    world.rule(
        rule(
            "ticket", {"kind": "event", "event": "ticket_closed", "delay": {"business_days": days}}
        )
    )
    world.event(world.customer(), "ticket_closed")
    assert DueStep.objects.get().due_at == local(due)


def test_birthday_is_an_anniversary_at_the_hour_in_the_customers_zone() -> None:
    world = World(local("2026-11-02 00:05"))
    world.rule(rule("birthday", {"kind": "date", "field": "birthday", "at": "09:30"}))
    import datetime as dt

    here = world.customer("上海", birthday=dt.date(1990, 11, 3))
    there = world.customer("纽约", zone="America/New_York", birthday=dt.date(1985, 11, 3))
    world.customer("不是今天", birthday=dt.date(1990, 11, 5))
    world.evaluate()
    due = dict(DueStep.objects.values_list("enrollment__customer_id", "due_at"))
    assert due == {
        here.pk: local("2026-11-03 09:30"),
        there.pk: local("2026-11-03T09:30-05:00"),
    }
    # Evaluating again, even forced, enrolls nobody twice.
    world.evaluate(force=True)
    assert Enrollment.objects.count() == 2


def test_ninety_days_before_a_custom_date_attribute_and_an_event_date() -> None:
    world = World(local("2026-11-02 01:00"))
    world.rule(
        rule(
            "renewal-attr",
            {
                "kind": "date",
                "field": "attributes.contract_ends_on",
                "offset": {"days": 90},
                "before": True,
            },
        )
    )
    world.rule(
        rule(
            "renewal-event",
            {
                "kind": "date",
                "event": "contract_ends",
                "property": "ends_on",
                "offset": {"days": 90},
                "before": True,
            },
        )
    )
    by_attribute = world.customer(attributes={"contract_ends_on": "2027-01-31"})
    world.customer(attributes={"contract_ends_on": "2027-03-01"})
    by_event = world.customer()
    world.event(by_event, "contract_ends", ends_on="2027-01-31")
    world.evaluate()
    enrolled = set(Enrollment.objects.values_list("rule__key", "customer_id"))
    assert enrolled == {("renewal-attr", by_attribute.pk), ("renewal-event", by_event.pk)}


def test_scheduled_triggers_catch_up_missed_days_once() -> None:
    world = World(local("2026-11-02 01:00"))
    world.rule(rule("birthday", {"kind": "date", "field": "birthday"}))
    import datetime as dt

    people = [world.customer(birthday=dt.date(1990, 11, day)) for day in (2, 3, 4, 5, 6)]
    world.evaluate()  # today and tomorrow
    assert Enrollment.objects.count() == 2
    world.clock.set(local("2026-11-05 01:00"))  # the scheduler was down for three days
    world.evaluate()
    assert Enrollment.objects.count() == 5
    assert sorted(Enrollment.objects.values_list("customer_id", flat=True)) == sorted(
        p.pk for p in people
    )


def test_segment_enrolls_on_entry_not_on_every_evaluation() -> None:
    world = World(local("2026-11-02 10:00"))
    world.rule(
        rule(
            "became-vip",
            {"kind": "segment", "where": {"field": "tier", "op": "eq", "value": "vip"}},
            policy={"reenroll_after": {"days": 30}},
        )
    )
    customer = world.customer(tier="regular")
    world.evaluate(force=True)
    assert not Enrollment.objects.exists()
    Customer.objects.filter(pk=customer.pk).update(tier="vip")
    world.evaluate(force=True)
    assert Enrollment.objects.count() == 1
    world.travel(timedelta(days=1))
    world.evaluate(force=True)  # still a VIP: not a new entry
    assert Enrollment.objects.count() == 1
    # Leaves and comes back within 30 days: not again; after 30 days: again.
    Customer.objects.filter(pk=customer.pk).update(tier="regular")
    world.evaluate(force=True)
    Customer.objects.filter(pk=customer.pk).update(tier="vip")
    world.evaluate(force=True)
    assert Enrollment.objects.count() == 1
    world.travel(timedelta(days=31))
    Customer.objects.filter(pk=customer.pk).update(tier="regular")
    world.evaluate(force=True)
    Customer.objects.filter(pk=customer.pk).update(tier="vip")
    world.evaluate(force=True)
    assert Enrollment.objects.count() == 2


def test_recurring_turns_spread_over_the_period_and_catch_up_once() -> None:
    world = World(local("2026-11-02 06:00"))
    world.rule(
        rule(
            "weekly",
            {
                "kind": "recurring",
                "every": {"weeks": 1},
                "where": {"field": "tier", "op": "eq", "value": "vip"},
            },
        )
    )
    vips = [world.customer(tier="vip") for _n in range(70)]
    world.customer(tier="regular")
    world.evaluate()
    for _day in range(6):
        world.travel(timedelta(days=1), evaluate=True)
    per_customer = Counter(Enrollment.objects.values_list("customer_id", flat=True))
    assert set(per_customer) == {v.pk for v in vips}
    assert set(per_customer.values()) == {1}
    per_day = Counter(e.started_at.date() for e in Enrollment.objects.all())
    assert len(per_day) == 7 and max(per_day.values()) <= 20  # spread, not all on one morning
    # Three weeks without a scheduler: each VIP gets one turn, not three.
    world.travel(timedelta(days=21))  # the held 06:00 messages go out at 08:00 meanwhile
    world.evaluate()
    again = Counter(
        Enrollment.objects.filter(started_at=world.now).values_list("customer_id", flat=True)
    )
    assert set(again) == {v.pk for v in vips}
    assert set(again.values()) == {1}


def test_old_events_enroll_nobody() -> None:
    world = World(local("2026-11-02 10:00"))
    world.rule(rule("after-purchase", {"kind": "event", "event": "purchase", "delay": {"days": 3}}))
    customer = world.customer()
    world.event(customer, "purchase", at=local("2025-11-02 10:00"), amount=100)  # last year
    assert not Enrollment.objects.exists()
    world.event(customer, "purchase", at=local("2026-11-01 10:00"), amount=100)  # yesterday
    assert Enrollment.objects.count() == 1


@pytest.mark.parametrize(("include_existing", "enrolled"), [(False, 0), (True, 1)])
def test_customers_already_in_a_segment_did_not_enter_it(
    include_existing: bool, enrolled: int
) -> None:
    world = World(local("2026-11-02 10:00"))
    world.customer(tier="vip")
    world.rule(
        rule(
            "vips",
            {
                "kind": "segment",
                "where": {"field": "tier", "op": "eq", "value": "vip"},
                "include_existing": include_existing,
            },
        )
    )
    world.evaluate(force=True)
    assert Enrollment.objects.count() == enrolled
    newcomer = world.customer(tier="vip")
    world.evaluate(force=True)
    assert Enrollment.objects.filter(customer=newcomer).count() == 1


def test_a_full_evaluation_backfills_recent_events_once() -> None:
    from huifang.engine.triggers import evaluate_all

    world = World(local("2026-11-02 10:00"))
    customer = world.customer()
    world.event(customer, "purchase", at=local("2026-11-01 10:00"), amount=100)
    world.rule(rule("after-purchase", {"kind": "event", "event": "purchase", "delay": {"days": 3}}))
    assert not Enrollment.objects.exists()  # activation alone does not reach back
    assert evaluate_all(world.now)["after-purchase"] == 1
    assert evaluate_all(world.now)["after-purchase"] == 0
    assert DueStep.objects.get().due_at == local("2026-11-04 10:00")
