"""After downtime, due work catches up by the rule's misfire policy (DESIGN invariant 4), judged
against the database clock; exits take effect as the event is stored, without a worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from huifang.core.clock import DatabaseClock
from huifang.engine.models import DueStep, Enrollment
from huifang.engine.runner import run_until_idle
from huifang.messaging import dispatch
from huifang.messaging.models import Message, Reason

from .world import World, local

pytestmark = pytest.mark.django_db


def follow_up(key: str, grace_hours: int) -> dict[str, object]:
    return {
        "key": key,
        "name": key,
        "trigger": {"kind": "event", "event": "ticket_closed", "delay": {"hours": 1}},
        "policy": {
            "quiet_hours": {"start": "00:00", "end": "00:00"},
            "misfire_grace": {"hours": grace_hours},
        },
        "steps": [{"id": "survey", "send": {"channel": "sms", "template": "csat"}}],
    }


def test_six_hours_down_catch_up_per_policy() -> None:
    world = World(local("2026-11-03 09:00"))
    world.rule(follow_up("patient", grace_hours=12))
    world.rule(follow_up("strict", grace_hours=2))
    early, late = world.customer(), world.customer()
    world.event(early, "ticket_closed")  # due 10:00
    world.clock.set(local("2026-11-03 13:30"))
    world.event(late, "ticket_closed")  # due 14:30
    # The workers are down from 09:00 until 16:00; then one comes back.
    world.clock.set(local("2026-11-03 16:00"))
    world.run()
    outcome = {
        (customer, rule): (status, reason)
        for customer, rule, status, reason in Message.objects.values_list(
            "customer_id", "rule__key", "status", "reason"
        )
    }
    assert outcome == {
        (early.pk, "patient"): ("sent", ""),  # 6 h late, within 12 h: sent late
        (early.pk, "strict"): ("dropped", Reason.MISSED),  # 6 h late, beyond 2 h: missed
        (late.pk, "patient"): ("sent", ""),
        (late.pk, "strict"): ("sent", ""),  # 1.5 h late, within 2 h
    }
    assert DueStep.objects.filter(status=DueStep.Status.MISSED).count() == 1
    # Nothing runs twice when the next worker looks.
    assert world.run() == 0
    assert Message.objects.count() == 4


def test_lateness_is_judged_against_the_database_clock() -> None:
    clock = DatabaseClock()
    # Enrolled 7 hours ago (by the database's clock), due 6 hours ago, no worker since.
    world = World(clock.now() - timedelta(hours=7))
    world.rule(follow_up("patient", grace_hours=12))
    world.rule(follow_up("strict", grace_hours=2))
    customer = world.customer()
    world.event(customer, "ticket_closed")
    assert DueStep.objects.filter(status="due").count() == 2
    run_until_idle(clock)
    dispatch.run_until_idle(clock)
    statuses = dict(Message.objects.values_list("rule__key", "status"))
    assert statuses == {"patient": "sent", "strict": "dropped"}


def test_an_exit_event_ends_the_plan_as_it_arrives(api: Client) -> None:
    world = World(DatabaseClock().now())
    rule = world.rule(
        {
            "key": "after-purchase",
            "name": "购买后回访",
            "trigger": {"kind": "event", "event": "order_delivered", "delay": {"days": 3}},
            "steps": [{"id": "ask", "send": {"channel": "sms", "template": "t"}}],
            "exit": {"on": ["complaint"]},
        }
    )
    customer = world.customer()
    world.event(customer, "order_delivered")
    enrollment = Enrollment.objects.get(rule=rule)
    response = api.post(
        "/api/v1/events",
        {
            "type": "complaint",
            "customer_external_id": customer.external_id,
            "occurred_at": DatabaseClock().now().isoformat(),
        },
        content_type="application/json",
    )
    assert response.status_code in (200, 201), response.content
    # No worker has run: the API call itself ended the plan and cancelled its step.
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.EXITED
    assert enrollment.end_reason == "event:complaint"
    assert list(DueStep.objects.filter(enrollment=enrollment).values_list("status", flat=True)) == [
        "cancelled"
    ]
