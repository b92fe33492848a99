"""The engine's tables have no database foreign keys (docs/decisions): Django's ``on_delete``
must still clean up after every delete, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from django.db.models import ProtectedError

from huifang.customers.models import Event
from huifang.engine.models import DueStep, Enrollment, SegmentMember
from huifang.messaging.models import Message
from tests.rules.test_document import EXAMPLE

from .world import World, local

pytestmark = pytest.mark.django_db

SEGMENT = """
key: vip-welcome
name: VIP
trigger: {kind: segment, where: {field: tier, op: eq, value: vip}}
steps:
  - id: hello
    send: {channel: sms, template: vip-hello}
    wait: {days: 5}
  - id: again
    send: {channel: sms, template: vip-again}
"""


def test_deleting_a_customer_removes_everything_the_engine_kept_for_them(world: World) -> None:
    world.rule(EXAMPLE)
    world.rule(SEGMENT)
    world.evaluate(force=True)  # the segment's baseline
    customer = world.customer("李雷", tier="vip")
    other = world.customer("韩梅梅", tier="vip")
    world.evaluate(force=True)
    world.event(customer, "purchase", amount=900)
    world.event(other, "purchase", amount=900)
    world.travel(local("2026-11-05 11:00"))
    assert Message.objects.filter(customer=customer).count() == 2
    assert SegmentMember.objects.filter(customer=customer).exists()
    enrollments = list(Enrollment.objects.filter(customer=customer).values_list("id", flat=True))
    assert DueStep.objects.filter(enrollment_id__in=enrollments).exists()

    customer.delete()

    assert not Enrollment.objects.filter(pk__in=enrollments).exists()
    assert not DueStep.objects.filter(enrollment_id__in=enrollments).exists()
    assert not Message.objects.filter(customer_id=customer.pk).exists()
    assert not SegmentMember.objects.filter(customer_id=customer.pk).exists()
    # The other customer's follow-ups are untouched and still run.
    assert Enrollment.objects.filter(customer=other).count() == 2
    world.travel(local("2026-11-20 12:00"))
    assert len(world.sent(other)) >= 3


def test_deleting_the_triggering_event_keeps_the_enrollment(world: World) -> None:
    world.rule(EXAMPLE)
    customer = world.customer(tier="vip")
    world.event(customer, "purchase", amount=900)
    enrollment = Enrollment.objects.get(customer=customer)
    assert enrollment.event_id is not None
    Event.objects.filter(pk=enrollment.event_id).delete()
    enrollment.refresh_from_db()
    assert enrollment.event_id is None
    world.travel(local("2026-11-05 11:00"))
    assert len(world.sent(customer)) == 1


def test_a_rule_with_history_cannot_be_deleted_only_archived(world: World) -> None:
    rule = world.rule(EXAMPLE)
    customer = world.customer(tier="vip")
    world.event(customer, "purchase", amount=900)
    world.travel(local("2026-11-05 11:00"))
    assert len(world.sent(customer)) == 1

    with pytest.raises(ProtectedError):
        rule.delete()

    assert Enrollment.objects.filter(rule=rule).count() == 1
    assert Message.objects.get(customer=customer).rule_id == rule.pk
