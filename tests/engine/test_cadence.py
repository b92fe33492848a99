"""The issue's example rule, end to end: purchase → 3 days → SMS → reply or not → call task."""

from __future__ import annotations

from typing import Any

import pytest

from huifang.engine.models import DueStep, Enrollment
from huifang.messaging.models import Message, Reason
from huifang.tasks.models import Task
from tests.rules.test_document import EXAMPLE  # the example rule, as written

from .world import World, local

pytestmark = pytest.mark.django_db


def test_no_reply_runs_the_whole_cadence(world: World) -> None:
    world.rule(EXAMPLE)
    customer = world.customer("王芳", tier="vip")
    world.event(customer, "purchase", amount=800)
    enrollment = Enrollment.objects.get(customer=customer)
    assert enrollment.anchor.startswith("event:")
    assert DueStep.objects.get(enrollment=enrollment).due_at == local("2026-11-05 10:00")

    world.travel(local("2026-11-20 12:00"))

    first, second = world.sent(customer)
    assert (first.step, first.template, first.channel) == ("first", "purchase-3d", "sms")
    assert first.sent_at == local("2026-11-05 10:00")
    # The 3-day wait ends on Sunday the 8th: held to Monday, when quiet hours end.
    assert second.sent_at == local("2026-11-09 08:00")
    assert second.decisions[0]["reason"] == Reason.DAY_OFF
    task = Task.objects.get(customer=customer)
    assert task.title == "电话回访 王芳"
    assert task.priority == "high"
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.COMPLETED


def test_a_reply_stops_the_cadence(world: World) -> None:
    world.rule(EXAMPLE)
    customer = world.customer(tier="regular")
    world.event(customer, "purchase", amount=600)
    world.travel(local("2026-11-06 09:00"))
    assert len(world.sent(customer)) == 1
    world.event(customer, "message_replied", text="收到，谢谢")
    enrollment = Enrollment.objects.get(customer=customer)
    assert enrollment.status == Enrollment.Status.EXITED  # message_replied is an exit event
    assert not DueStep.objects.filter(enrollment=enrollment, status=DueStep.Status.DUE).exists()
    world.travel(local("2026-11-30 09:00"))
    assert len(world.sent(customer)) == 1
    assert not Task.objects.filter(customer=customer).exists()


def test_small_purchase_and_wrong_tier_do_not_enroll(world: World) -> None:
    world.rule(EXAMPLE)
    small = world.customer(tier="vip")
    dormant = world.customer(tier="dormant")
    world.event(small, "purchase", amount=499)
    world.event(dormant, "purchase", amount=5000)
    assert not Enrollment.objects.exists()


def test_evening_send_is_held_until_morning(world: World) -> None:
    world.rule(EXAMPLE)
    customer = world.customer(tier="vip")
    world.event(customer, "purchase", at=local("2026-11-02 22:30"), amount=900)
    world.travel(local("2026-11-06 12:00"))
    (message,) = world.sent(customer)
    assert message.sent_at == local("2026-11-06 08:00")
    assert message.decisions[0]["action"] == "defer"
    assert message.decisions[0]["reason"] == Reason.QUIET_HOURS
    assert message.planned_at == local("2026-11-05 22:30")


def test_do_not_contact_drops_and_the_task_still_comes(world: World) -> None:
    world.rule(EXAMPLE)
    customer = world.customer(tier="vip", do_not_contact=True)
    world.event(customer, "purchase", amount=900)
    world.travel(local("2026-11-10 12:00"))
    assert world.sent(customer) == []
    reasons = set(Message.objects.filter(customer=customer).values_list("reason", flat=True))
    assert reasons == {Reason.DO_NOT_CONTACT}
    assert Task.objects.filter(customer=customer).count() == 1


def test_the_customer_page_says_why_a_message_was_held(world: World, alice_client: Any) -> None:
    world.rule(EXAMPLE)
    customer = world.customer("李雷", tier="vip", zone="America/New_York")
    # 22:30 on 2 November in New York; due 22:30 on the 5th there, held until 08:00 there.
    world.event(customer, "purchase", at=local("2026-11-02T22:30-05:00"), amount=900)
    world.travel(local("2026-11-07 12:00"))
    page = alice_client.get(f"/customers/{customer.pk}/").content.decode()
    assert "购买后回访 v1" in page
    assert "免打扰时段" in page or "Quiet hours" in page
    assert "customer's time" in page or "客户当地时间" in page
