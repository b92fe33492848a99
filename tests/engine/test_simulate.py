"""``huifang simulate``: the real engine over a virtual fortnight, leaving the data untouched."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from huifang.customers.consent import record_consent, withdraw_consent
from huifang.customers.models import Channel, Consent, Customer, Event
from huifang.customers.schemas import ConsentIn
from huifang.engine.models import DueStep, Enrollment
from huifang.messaging.models import Message
from huifang.tasks.models import Task

from .world import World, local

pytestmark = pytest.mark.django_db

RULE = {
    "key": "ticket-survey",
    "name": "工单关闭满意度",
    "trigger": {"kind": "event", "event": "ticket_closed", "delay": {"hours": 24}},
    "policy": {"quiet_hours": {"start": "21:00", "end": "08:00"}, "days": "business"},
    "steps": [
        {"id": "survey", "send": {"channel": "sms", "template": "csat"}, "wait": {"days": 1}},
        {"id": "call", "task": {"title": "回访 {{客户姓名}}"}},
    ],
}


def simulate(*args: str) -> dict:
    out = StringIO()
    call_command("simulate", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_events_in_the_window_arrive_on_the_virtual_clock() -> None:
    world = World(local("2026-09-20 12:00"))
    world.rule(RULE)
    shanghai = world.customer("上海客户")
    new_york = world.customer("纽约客户", zone="America/New_York")
    # Already stored, but inside the window: they arrive again when the virtual clock gets there.
    world.event(shanghai, "ticket_closed", at=local("2026-09-29 22:30"))
    world.event(new_york, "ticket_closed", at=local("2026-09-29 10:00"))
    before = (Event.objects.count(), Enrollment.objects.count(), DueStep.objects.count())

    report = simulate("--start", "2026-09-28T00:00+08:00", "--days", "14")

    assert report["rules"] == ["ticket-survey"]
    assert [day["date"] for day in report["days"]][:2] == ["2026-09-28", "2026-09-29"]
    assert len(report["days"]) == 14
    sends = {s["customer"]["name"]: s for s in report["sends"]}
    # Due 30 Sept 22:30: quiet hours, then National Day (1–7 Oct): the 8th, 08:00.
    assert sends["上海客户"]["at"] == "2026-10-08T08:00+08:00"
    # Due 29 Sept 22:00 New York time: quiet hours there too, so 08:00 the next morning
    # (a working day in the calendar, although Shanghai is then on holiday the next day).
    assert sends["纽约客户"]["at"] == "2026-09-30T08:00-04:00"
    (held,) = [d for d in report["deferrals"] if d["customer"]["name"] == "上海客户"]
    assert held["at"] == "2026-09-30T22:30+08:00"
    assert (held["reason"], held["until"]) == ("day_off", "2026-10-08T08:00+08:00")
    assert report["totals"]["enrollments"] == 2
    assert report["totals"]["tasks"] == 2
    # Nothing was kept.
    assert (Event.objects.count(), Enrollment.objects.count(), DueStep.objects.count()) == before
    assert not Message.objects.exists() and not Task.objects.exists()


def test_a_rule_file_can_be_tried_before_it_exists(tmp_path: Path) -> None:
    world = World(local("2026-11-02 09:00"))
    customer = world.customer()
    world.event(customer, "ticket_closed", at=local("2026-11-03 09:00"))
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(RULE, ensure_ascii=False), encoding="utf-8")
    report = simulate("--start", "2026-11-03T00:00+08:00", "--days", "3", "--file", str(path))
    assert [s["at"] for s in report["sends"]] == ["2026-11-04T09:00+08:00"]
    assert not Enrollment.objects.exists()
    from huifang.rules.models import Rule

    assert not Rule.objects.filter(key="ticket-survey").exists()


def test_bad_input_is_explained() -> None:
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("simulate", "--start", "next monday")
    with pytest.raises(CommandError, match="no rule"):
        call_command("simulate", "--start", "2026-11-03T00:00+08:00", "--rules", "nope")
    with pytest.raises(CommandError, match="days"):
        call_command("simulate", "--start", "2026-11-03T00:00+08:00", "--days", "0")


PURCHASE = {
    "key": "after-purchase",
    "name": "购后关怀",
    "trigger": {"kind": "event", "event": "purchase"},
    "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
    "steps": [{"id": "thanks", "send": {"channel": "sms", "template": "thanks"}}],
}


def consenting(world: World, name: str) -> Customer:
    """A customer who granted SMS consent the way it is recorded in earnest (with its event)."""
    customer = world.customer(name, consent=())
    record_consent(
        customer,
        ConsentIn(channel=Channel.SMS, status=Consent.Status.GRANTED, method=Consent.Method.PAPER),
        now=world.now,
    )
    return customer


def test_consent_is_judged_as_it_was_at_each_moment_of_the_replay() -> None:
    world = World(local("2026-11-01 09:00"))
    world.rule(PURCHASE)
    leaving, staying = consenting(world, "退订客户"), consenting(world, "老客户")
    for day in ("2026-11-02", "2026-11-03"):
        world.travel(local(f"{day} 10:00"))
        world.event(leaving, "purchase", order_id=f"L-{day}", amount=99)
        world.event(staying, "purchase", order_id=f"S-{day}", amount=99)
        world.run()
        if day == "2026-11-02":  # 5 s after the first send, the customer withdraws everything
            world.clock.advance(timedelta(seconds=5))
            withdraw_consent(
                leaving, None, method=Consent.Method.SMS_REPLY, evidence="TD", now=world.now
            )
    real = [(m.customer_id, m.sent_at) for m in world.sent()]
    assert real == [
        (leaving.pk, local("2026-11-02 10:00")),
        (staying.pk, local("2026-11-02 10:00")),
        (staying.pk, local("2026-11-03 10:00")),
    ]

    report = simulate("--start", "2026-11-02T00:00+08:00", "--days", "3")

    sends = [(s["customer"]["name"], s["at"]) for s in report["sends"]]
    assert sends == [
        ("退订客户", "2026-11-02T10:00+08:00"),
        ("老客户", "2026-11-02T10:00+08:00"),
        ("老客户", "2026-11-03T10:00+08:00"),
    ]
    assert report["totals"]["drops"] == 1  # the second purchase: do-not-contact by then
    assert report["reasons"]["drops"] == {"do_not_contact": 1}
    # Nothing was kept: consent and do-not-contact are as they are now.
    leaving.refresh_from_db()
    assert leaving.do_not_contact
    assert not Consent.objects.filter(customer=leaving, status=Consent.Status.GRANTED).exists()


def test_consent_granted_inside_the_window_counts_from_that_moment() -> None:
    world = World(local("2026-11-02 09:00"))
    world.rule(PURCHASE)
    late = world.customer("新客户", consent=())
    world.event(late, "purchase", at=local("2026-11-02 10:00"), order_id="N-1", amount=99)
    world.travel(local("2026-11-02 12:00"))
    record_consent(
        late,
        ConsentIn(channel=Channel.SMS, status=Consent.Status.GRANTED, method=Consent.Method.PAPER),
        now=world.now,
    )
    world.event(late, "purchase", order_id="N-2", amount=99)
    world.run()
    assert [m.sent_at for m in world.sent()] == [local("2026-11-02 12:00")]

    report = simulate("--start", "2026-11-02T00:00+08:00", "--days", "1")

    assert [s["at"] for s in report["sends"]] == ["2026-11-02T12:00+08:00"]
    assert report["reasons"]["drops"] == {"no_consent": 1}
