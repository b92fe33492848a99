"""Triggers as a user configures them: who enters a rule, when their first step is due, and
that no evaluation — repeated, forced or catching up after downtime — enrolls anyone twice."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from huifang.customers.models import Customer
from huifang.engine.models import DueStep, Enrollment
from huifang.engine.triggers import evaluate_all
from huifang.messaging.models import Message, Reason

from .world import World, local

pytestmark = pytest.mark.django_db

ALWAYS_OPEN = {"quiet_hours": {"start": "00:00", "end": "00:00"}}  # an empty quiet window


def rule(key: str, trigger: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "trigger": trigger,
        "steps": [{"id": "hello", "send": {"channel": "sms", "template": f"{key}-hello"}}],
        **extra,
    }


def due_by_customer(key: str | None = None) -> dict[int, Any]:
    steps = DueStep.objects.filter(kind=DueStep.Kind.RUN)
    if key is not None:
        steps = steps.filter(enrollment__rule__key=key)
    return dict(steps.values_list("enrollment__customer_id", "due_at"))


# -- event triggers: delays in business days ---------------------------------------------------

PURCHASE_NEXT_BUSINESS_DAY = """
key: purchase-next-business-day
name: 购买后下一个工作日回访
trigger:
  kind: event
  event: purchase
  delay: {business_days: %d}
steps:
  - id: thanks
    send: {channel: sms, template: thanks}
"""


@pytest.mark.parametrize(
    ("purchased", "days", "due"),
    [
        # Friday + 1 business day: the weekend is skipped, the time of day kept.
        ("2026-09-25 15:20", 1, "2026-09-28 15:20"),
        # National Day 2026: 1–7 October are off, so the day after 30 September is the 8th.
        ("2026-09-30 10:00", 1, "2026-10-08 10:00"),
        ("2026-09-30 10:00", 2, "2026-10-09 10:00"),
        # Saturday 10 October is a 调休 working day.
        ("2026-09-30 10:00", 3, "2026-10-10 10:00"),
    ],
)
def test_business_day_delay_skips_weekends_and_holidays(
    purchased: str, days: int, due: str
) -> None:
    world = World(local(purchased))
    world.rule(PURCHASE_NEXT_BUSINESS_DAY % days)
    customer = world.customer()
    world.event(customer, "purchase", amount=300)
    step = DueStep.objects.get(enrollment__customer=customer)
    assert step.due_at == local(due)
    # Nothing goes out early; it goes out at that moment.
    world.travel(local(due) - timedelta(minutes=1))
    assert world.sent(customer) == []
    world.travel(timedelta(minutes=1))
    (message,) = world.sent(customer)
    assert (message.template, message.sent_at) == ("thanks", local(due))


def test_business_days_are_counted_in_the_customers_zone() -> None:
    # Friday 25 September 20:00 in New York is already Saturday 08:00 in Shanghai; counted in
    # New York it is a Friday purchase, due Monday 28 September 20:00 New York time.
    world = World(local("2026-09-25T20:00-04:00"))
    world.rule(PURCHASE_NEXT_BUSINESS_DAY % 1)
    customer = world.customer("纽约客户", zone="America/New_York")
    world.event(customer, "purchase", amount=300)
    assert due_by_customer() == {customer.pk: local("2026-09-28T20:00-04:00")}
    world.travel(local("2026-09-30 12:00"))
    (message,) = world.sent(customer)
    assert message.sent_at == local("2026-09-28T20:00-04:00")


# -- date triggers -------------------------------------------------------------------------------


def test_birthday_every_year_at_the_hour_in_the_customers_own_zone() -> None:
    world = World(local("2026-11-02 00:05"))
    world.rule(rule("birthday", {"kind": "date", "field": "birthday", "at": "09:30"}))
    shanghai = world.customer("上海", birthday=date(1990, 11, 3))
    new_york = world.customer("纽约", zone="America/New_York", birthday=date(1985, 11, 3))
    world.customer("后天生日", birthday=date(1990, 11, 5))
    world.customer("没有生日")
    world.evaluate()
    assert due_by_customer() == {
        shanghai.pk: local("2026-11-03 09:30"),
        new_york.pk: local("2026-11-03T09:30-05:00"),  # 22:30 in Shanghai
    }
    world.evaluate(force=True)
    world.evaluate(force=True)
    assert Enrollment.objects.count() == 2
    world.travel(local("2026-11-04 12:00"), evaluate=True)
    sent = {m.customer_id: m.sent_at for m in world.sent()}
    assert sent == {
        shanghai.pk: local("2026-11-03 09:30"),
        new_york.pk: local("2026-11-03T09:30-05:00"),
    }


def test_birthday_on_29_february_is_kept_on_the_28th_in_other_years() -> None:
    world = World(local("2027-02-27 01:00"))
    world.rule(rule("birthday", {"kind": "date", "field": "birthday"}))
    leapling = world.customer(birthday=date(2000, 2, 29))
    world.evaluate()  # 27 and 28 February 2027; there is no 29th
    assert due_by_customer() == {leapling.pk: local("2027-02-28 10:00")}


def test_ninety_days_before_a_custom_date_attribute() -> None:
    world = World(local("2026-11-02 01:00"))
    world.rule(
        """
key: renewal
name: 续约提醒
trigger:
  kind: date
  field: attributes.contract_ends_on
  offset: {days: 90}
  before: true
steps:
  - id: remind
    send: {channel: email, template: renewal-90d}
"""
    )
    today = world.customer(attributes={"contract_ends_on": "2027-01-31"})  # 90 days away
    tomorrow = world.customer(attributes={"contract_ends_on": "2027-02-01"})
    world.customer(attributes={"contract_ends_on": "2027-03-01"})
    world.customer(attributes={"contract_ends_on": "2026-11-02"})  # not "90 days after"
    world.customer(attributes={"something_else": "2027-01-31"})
    world.evaluate()
    assert due_by_customer() == {
        today.pk: local("2026-11-02 10:00"),
        tomorrow.pk: local("2026-11-03 10:00"),
    }
    # Evaluating again the same day, even forced, enrolls nobody twice.
    assert world.evaluate(force=True) == {"renewal": 0}
    assert world.evaluate() == {}  # not due again today
    assert Enrollment.objects.count() == 2
    world.travel(local("2026-11-04 12:00"), evaluate=True)
    assert Enrollment.objects.count() == 2
    assert {m.customer_id for m in world.sent()} == {today.pk, tomorrow.pk}


def test_ninety_days_before_a_date_property_of_an_event() -> None:
    world = World(local("2026-11-02 01:00"))
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
    today = world.customer()
    tomorrow = world.customer()
    later = world.customer()
    world.event(today, "contract_ends", ends_on="2027-01-31")
    world.event(today, "contract_ends", ends_on="2027-01-31")  # sent twice by the CRM
    world.event(tomorrow, "contract_ends", ends_on="2027-02-01")
    world.event(later, "contract_ends", ends_on="2027-05-01")
    assert not Enrollment.objects.exists()  # a date trigger waits for its day, not the event
    world.evaluate()
    assert due_by_customer() == {
        today.pk: local("2026-11-02 10:00"),
        tomorrow.pk: local("2026-11-03 10:00"),
    }
    world.evaluate(force=True)
    world.evaluate(force=True)
    assert Enrollment.objects.count() == 2
    # The next days' evaluations do not enroll them again either.
    for _day in range(3):
        world.travel(timedelta(days=1), evaluate=True)
    assert Counter(Enrollment.objects.values_list("customer_id", flat=True)) == {
        today.pk: 1,
        tomorrow.pk: 1,
    }


def test_missed_days_are_caught_up_by_the_next_evaluation() -> None:
    world = World(local("2026-11-02 00:30"))
    world.rule(
        rule(
            "birthday",
            {"kind": "date", "field": "birthday"},
            policy={**ALWAYS_OPEN, "misfire_grace": {"days": 1}},
        )
    )
    born = {day: world.customer(f"{day}日", birthday=date(1990, 11, day)) for day in range(2, 9)}
    world.evaluate()  # 2 and 3 November
    assert set(due_by_customer()) == {born[2].pk, born[3].pk}
    # The scheduler is down on the 3rd, 4th and 5th; steps already planned still run.
    world.travel(local("2026-11-06 00:30"))
    assert Enrollment.objects.count() == 2
    world.evaluate()  # catches up the 4th and 5th, with the 6th and 7th as every day
    assert due_by_customer() == {
        customer.pk: local(f"2026-11-{day:02d} 10:00") for day, customer in born.items() if day <= 7
    }
    assert world.evaluate(force=True) == {"birthday": 0}
    world.travel(local("2026-11-09 00:30"), evaluate=True)
    assert Counter(Enrollment.objects.values_list("customer_id", flat=True)) == {
        customer.pk: 1 for customer in born.values()
    }
    # Caught-up steps obey the misfire grace (one day): the 4th's was 38.5 hours late.
    outcome = {m.customer_id: (m.status, m.reason) for m in Message.objects.all()}
    assert outcome.pop(born[4].pk) == (Message.Status.DROPPED, Reason.MISSED)
    assert set(outcome.values()) == {(Message.Status.SENT, "")}
    assert world.sent(born[5])[0].sent_at == local("2026-11-06 00:30")  # 14.5 hours late


def test_a_customer_added_the_day_before_their_birthday_is_still_greeted() -> None:
    world = World(local("2026-11-02 00:01"))
    world.rule(rule("birthday", {"kind": "date", "field": "birthday"}))
    world.evaluate()  # the scheduler's daily run: 2 and 3 November
    world.clock.set(local("2026-11-02 15:00"))
    imported = world.customer("下午导入", birthday=date(1990, 11, 3))
    world.clock.set(local("2026-11-02 15:15"))
    world.evaluate()  # the scheduler looks again every SEGMENT_EVALUATION_MINUTES
    world.travel(local("2026-11-04 12:00"), evaluate=True)
    assert due_by_customer() == {imported.pk: local("2026-11-03 10:00")}
    assert len(world.sent(imported)) == 1


# -- segment triggers ----------------------------------------------------------------------------

BECAME_VIP = """
key: became-vip
name: 升级为 VIP
trigger:
  kind: segment
  where: {field: tier, op: eq, value: vip}
policy:
  reenroll_after: {days: 30}
steps:
  - id: welcome
    send: {channel: sms, template: vip-welcome}
"""


def set_tier(customer: Customer, tier: str) -> None:
    Customer.objects.filter(pk=customer.pk).update(tier=tier)


def test_segment_enrolls_customers_who_enter_it() -> None:
    world = World(local("2026-11-02 10:00"))
    world.rule(BECAME_VIP)
    already = world.customer("老 VIP", tier="vip")
    riser = world.customer("新 VIP", tier="regular")
    world.evaluate()  # the first evaluation records who is inside; nobody *entered*
    assert not Enrollment.objects.exists()

    set_tier(riser, "vip")
    world.evaluate()  # within the segment interval: not evaluated yet
    assert not Enrollment.objects.exists()
    world.travel(timedelta(minutes=15), evaluate=True)
    enrollment = Enrollment.objects.get()
    assert (enrollment.customer_id, enrollment.anchor_at) == (riser.pk, world.now)
    assert [m.template for m in world.sent(riser)] == ["vip-welcome"]
    assert world.sent(already) == []

    # Staying in the segment is not entering it again.
    for _n in range(4):
        world.travel(timedelta(hours=6), evaluate=True)
    assert Enrollment.objects.filter(customer=riser).count() == 1


def test_leaving_and_entering_again_enrolls_again_only_after_reenroll_after() -> None:
    world = World(local("2026-11-02 10:00"))
    world.rule(BECAME_VIP)
    customer = world.customer(tier="regular")
    world.evaluate(force=True)
    set_tier(customer, "vip")
    world.evaluate(force=True)
    assert Enrollment.objects.filter(customer=customer).count() == 1

    # Out and back in ten days later: within 30 days of the last enrollment, not again.
    world.travel(timedelta(days=10))
    set_tier(customer, "regular")
    world.evaluate(force=True)
    world.travel(timedelta(hours=1))
    set_tier(customer, "vip")
    world.evaluate(force=True)
    assert Enrollment.objects.filter(customer=customer).count() == 1

    # Out and back in after the 30 days: a new entry, a new enrollment.
    world.travel(timedelta(days=21))
    set_tier(customer, "regular")
    world.evaluate(force=True)
    world.travel(timedelta(hours=1))
    set_tier(customer, "vip")
    world.evaluate(force=True)
    assert Enrollment.objects.filter(customer=customer).count() == 2
    world.run()
    assert len(world.sent(customer)) == 2


# -- recurring triggers --------------------------------------------------------------------------


def test_recurring_turns_spread_over_the_period_and_catch_up_once() -> None:
    world = World(local("2026-11-02 10:00"))
    world.rule(
        rule(
            "weekly-vip",
            {
                "kind": "recurring",
                "every": {"days": 7},
                "where": {"field": "tier", "op": "eq", "value": "vip"},
            },
        )
    )
    vips = [world.customer(f"VIP {n}", tier="vip") for n in range(70)]
    world.customer("普通", tier="regular")
    for _day in range(7):
        world.travel(timedelta(days=1), evaluate=True)
    per_customer = Counter(Enrollment.objects.values_list("customer_id", flat=True))
    assert per_customer == {vip.pk: 1 for vip in vips}  # everyone once, nobody else
    per_day = Counter(e.started_at.date() for e in Enrollment.objects.all())
    assert len(per_day) == 7  # a turn every day of the week…
    assert max(per_day.values()) <= 20  # …a share of the segment each, not all on day one
    assert len(world.sent()) == 70

    # Three weeks without a scheduler (three periods): one turn each, not three.
    world.travel(timedelta(days=21))
    world.evaluate()
    assert Counter(Enrollment.objects.values_list("customer_id", flat=True)) == {
        vip.pk: 2 for vip in vips
    }
    world.evaluate(force=True)
    assert Enrollment.objects.count() == 140


# -- old events ----------------------------------------------------------------------------------

PURCHASE_3_DAYS = rule(
    "after-purchase", {"kind": "event", "event": "purchase", "delay": {"days": 3}}
)


def test_events_older_than_the_delay_plus_the_grace_enroll_nobody() -> None:
    world = World(local("2026-11-02 10:00"))
    world.rule(PURCHASE_3_DAYS)  # default misfire grace: 12 hours
    last_year, too_old, just_in, recent = (world.customer() for _n in range(4))
    world.event(last_year, "purchase", at=local("2025-11-02 10:00"), amount=100)
    world.event(too_old, "purchase", at=local("2026-10-29 21:00"), amount=100)  # 3 d 13 h ago
    world.event(just_in, "purchase", at=local("2026-10-29 23:00"), amount=100)  # 3 d 11 h ago
    world.event(recent, "purchase", at=local("2026-11-01 10:00"), amount=100)
    assert set(Enrollment.objects.values_list("customer_id", flat=True)) == {
        just_in.pk,
        recent.pk,
    }
    world.travel(local("2026-11-05 12:00"))
    # Due 11 hours ago, within the grace: sent late rather than missed. Nothing is missed.
    assert world.sent(just_in)[0].sent_at == local("2026-11-02 10:00")
    assert not Message.objects.filter(reason=Reason.MISSED).exists()


def test_an_import_of_last_years_events_enrolls_nobody_in_a_full_evaluation() -> None:
    world = World(local("2026-11-02 10:00"))
    customers = [world.customer() for _n in range(5)]
    for n, customer in enumerate(customers):  # last year's orders, imported today
        world.event(customer, "purchase", at=local(f"2025-11-{n + 1:02d} 10:00"), amount=100)
    world.event(customers[0], "purchase", at=local("2026-11-01 10:00"), amount=100)
    world.rule(PURCHASE_3_DAYS)
    assert evaluate_all(world.now) == {"after-purchase": 1}
    assert list(Enrollment.objects.values_list("customer_id", flat=True)) == [customers[0].pk]
    world.travel(local("2026-11-10 10:00"))
    assert not Message.objects.exclude(status=Message.Status.SENT).exists()


def test_a_recent_event_with_a_business_day_delay_still_enrolls() -> None:
    # Monday 2 November 10:00 + 1 business day = Tuesday 10:00; stored 10 hours after that.
    world = World(local("2026-11-03 20:00"))
    world.rule(PURCHASE_NEXT_BUSINESS_DAY % 1)
    customer = world.customer()
    world.event(customer, "purchase", at=local("2026-11-02 10:00"), amount=100)
    assert due_by_customer() == {customer.pk: local("2026-11-03 10:00")}
    world.run()
    assert world.sent(customer)[0].sent_at == local("2026-11-03 20:00")


def test_an_event_whose_business_day_step_is_past_the_grace_enrolls_nobody() -> None:
    # Monday 2 November + 1 business day = Tuesday 3 November 10:00; stored on Thursday, two
    # days after that: the first step would be missed, like an old import with a fixed delay.
    world = World(local("2026-11-05 10:00"))
    world.rule(PURCHASE_NEXT_BUSINESS_DAY % 1)
    customer = world.customer()
    world.event(customer, "purchase", at=local("2026-11-02 10:00"), amount=100)
    world.run()
    assert not Message.objects.filter(customer=customer, reason=Reason.MISSED).exists()
    assert not Enrollment.objects.exists()


# -- first runs and full evaluations ---------------------------------------------------------


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
