"""The engine follows the organisation's defaults: quiet hours for rules without their own,
default caps for rules that set none, working hours for tasks of no team — and a rule's own
settings still win."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest

from huifang.messaging.models import Message, Reason
from huifang.organisation import services
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.tasks.services import working_time
from tests.engine.world import World, local

pytestmark = pytest.mark.django_db


def organisation(**values: Any) -> None:
    defaults: dict[str, Any] = {
        "quiet_start": time(21, 0),
        "quiet_end": time(8, 0),
        "working_days": [0, 1, 2, 3, 4],
        "working_start": time(9, 0),
        "working_end": time(18, 0),
        "caps": [],
        "sms_signature": "",
        "actor": None,
    }
    services.save_settings(**{**defaults, **values})


def send_rule(key: str, *, delay_minutes: int = 0, **policy: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "trigger": {"kind": "event", "event": "visit", "delay": {"minutes": delay_minutes}},
        "policy": policy,
        "steps": [{"id": "only", "send": {"channel": "sms", "template": key}}],
    }


def test_a_rule_without_quiet_hours_keeps_the_organisations(world: World) -> None:
    organisation(quiet_start=time(9, 30), quiet_end=time(12, 0))
    world.rule(send_rule("plain"))
    customer = world.customer()
    world.event(customer, "visit")
    world.travel(timedelta(days=1))
    message = Message.objects.get(customer=customer)
    assert message.decisions[0]["reason"] == Reason.QUIET_HOURS
    assert message.sent_at == local("2026-11-02 12:00")


def test_the_environments_quiet_hours_apply_until_an_admin_saves(
    world: World, settings: Any
) -> None:
    settings.HUIFANG_QUIET_HOURS = "09:30-12:00"
    world.rule(send_rule("plain"))
    customer = world.customer()
    world.event(customer, "visit")
    world.travel(timedelta(days=1))
    assert Message.objects.get(customer=customer).sent_at == local("2026-11-02 12:00")


def test_a_rules_own_quiet_hours_win_over_the_organisations(world: World) -> None:
    organisation(quiet_start=time(9, 30), quiet_end=time(12, 0))
    world.rule(send_rule("own", quiet_hours={"start": "22:00", "end": "07:00"}))
    customer = world.customer()
    world.event(customer, "visit")
    world.run()
    assert Message.objects.get(customer=customer).sent_at == world.now


def test_rules_without_caps_get_the_organisations_default_caps(world: World) -> None:
    organisation(quiet_start=time(0, 0), quiet_end=time(0, 0), caps=[("sms", 1, 7)])
    world.rule(send_rule("first"))
    world.rule(send_rule("second", delay_minutes=5))
    customer = world.customer()
    world.event(customer, "visit")
    world.travel(timedelta(days=10))
    messages = {m.template: m for m in Message.objects.filter(customer=customer)}
    assert messages["first"].sent_at == local("2026-11-02 10:00")
    capped = messages["second"]
    assert capped.decisions[0]["reason"] == Reason.CAP
    assert capped.sent_at == messages["first"].sent_at + timedelta(days=7)


def test_a_rules_own_caps_replace_the_default_caps(world: World) -> None:
    organisation(quiet_start=time(0, 0), quiet_end=time(0, 0), caps=[("sms", 1, 7)])
    world.rule(send_rule("first"))
    world.rule(
        send_rule("second", delay_minutes=5, caps=[{"channel": "sms", "max": 5, "per_days": 1}])
    )
    customer = world.customer()
    world.event(customer, "visit")
    world.travel(timedelta(hours=1))
    assert {m.template: m.sent_at for m in Message.objects.filter(customer=customer)} == {
        "first": local("2026-11-02 10:00"),
        "second": local("2026-11-02 10:05"),
    }


def test_without_default_caps_nothing_is_capped(world: World) -> None:
    organisation(quiet_start=time(0, 0), quiet_end=time(0, 0))
    world.rule(send_rule("first"))
    world.rule(send_rule("second", delay_minutes=5))
    customer = world.customer()
    world.event(customer, "visit")
    world.travel(timedelta(hours=1))
    assert Message.objects.filter(customer=customer, status="sent").count() == 2


def test_default_caps_with_drop_follow_the_rules_on_cap(world: World) -> None:
    organisation(quiet_start=time(0, 0), quiet_end=time(0, 0), caps=[("any", 1, 30)])
    world.rule(send_rule("first"))
    world.rule(send_rule("second", delay_minutes=5, on_cap="drop"))
    customer = world.customer()
    world.event(customer, "visit")
    world.travel(timedelta(hours=1))
    second = Message.objects.get(customer=customer, template="second")
    assert (second.status, second.reason) == ("dropped", Reason.CAP)


def test_tasks_of_no_team_count_in_the_organisations_working_hours() -> None:
    organisation(
        working_days=[0, 1, 2, 3, 4, 5], working_start=time(10, 0), working_end=time(16, 0)
    )
    clock = working_time(None, BusinessCalendar())
    saturday_morning = local("2026-11-07 09:00")
    # Saturday is worked from 10:00: four working hours end at 14:00 the same day.
    assert clock.add(saturday_morning, timedelta(hours=4)) == local("2026-11-07 14:00")


def test_tasks_of_no_team_keep_mon_to_fri_nine_to_six_without_settings() -> None:
    clock = working_time(None, BusinessCalendar())
    friday_afternoon = local("2026-11-06 17:00")
    assert clock.add(friday_afternoon, timedelta(hours=2)) == datetime.fromisoformat(
        "2026-11-09T10:00:00+08:00"
    )
