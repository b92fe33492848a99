"""Every way a customer's consent is withdrawn goes through ``withdraw_consent``, so each one
cancels the pending messages and their retries in the same way: the unsubscribe page, the
RFC 8058 one-click POST, an SMS stop word and an agent's "refused further contact"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huifang.accounts.models import Team
from huifang.customers.models import Consent, Customer, Event
from huifang.engine.models import DueStep, Enrollment
from huifang.messaging.inbound import reply_by_phone
from huifang.messaging.models import Message, Reason
from huifang.messaging.unsubscribe import token_for
from huifang.tasks.outcomes import Report, record
from tests.engine.world import World, local
from tests.rules.test_document import EXAMPLE
from tests.tasks.helpers import open_one

pytestmark = pytest.mark.django_db

PHONE = "+8613800138000"


def message(customer: Customer, channel: str, status: str, **fields: Any) -> Message:
    now = timezone.now()
    return Message.objects.create(
        customer=customer,
        channel=channel,
        channels=[channel],
        template="回访",
        status=status,
        planned_at=now,
        created_at=now,
        sent_at=now if status == Message.Status.SENT else None,
        **fields,
    )


def unsubscribe_page(customer: Customer, sent: Message, **_: Any) -> None:
    url = reverse("messaging:unsubscribe", args=[token_for(sent)])
    answer = Client(enforce_csrf_checks=True).post(url, {"scope": "channel"})
    assert answer.status_code == 200


def one_click(customer: Customer, sent: Message, **_: Any) -> None:
    url = reverse("messaging:unsubscribe", args=[token_for(sent)])
    answer = Client(enforce_csrf_checks=True).post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert answer.status_code == 200


def stop_word(customer: Customer, sent: Message, **_: Any) -> None:
    reply_by_phone(PHONE, "退订", received_at=None, provider_ref="aliyun-1-77")


def agent_refused(customer: Customer, sent: Message, *, team: Team, agent: Any) -> None:
    task = open_one(customer, team, now=timezone.now(), title="回访")
    record(task, Report(outcome="refused", notes="不要再联系"), actor=agent, now=timezone.now())


PATHS: dict[str, Callable[..., None]] = {
    "unsubscribe page": unsubscribe_page,
    "one-click POST": one_click,
    "SMS stop word": stop_word,
    "agent: refused": agent_refused,
}


@pytest.mark.parametrize("path", PATHS)
def test_every_withdrawal_cancels_pending_messages_and_retries_alike(
    path: str, service_team: Team, bob: Any
) -> None:
    world = World(local("2026-11-02 10:00"))
    customer = world.customer("王芳", consent=("sms", "email"))
    Customer.objects.filter(pk=customer.pk).update(phone=PHONE)
    customer.refresh_from_db()
    rule = world.rule(EXAMPLE)
    sent = message(customer, "sms", Message.Status.SENT)
    queued = message(customer, "sms", Message.Status.QUEUED)
    held = message(customer, "sms", Message.Status.DEFERRED)
    assert rule.current_version_id is not None
    enrollment = Enrollment.objects.create(
        rule=rule,
        version_id=rule.current_version_id,
        customer=customer,
        anchor="x",
        anchor_at=timezone.now(),
        started_at=timezone.now(),
    )
    retry = DueStep.objects.create(
        enrollment=enrollment,
        kind=DueStep.Kind.SEND,
        step="first",
        message=held,
        due_at=timezone.now() + timedelta(hours=8),
    )

    PATHS[path](customer, sent, team=service_team, agent=bob)

    for pending in (queued, held):
        pending.refresh_from_db()
        assert (pending.status, pending.reason, pending.deferred_until) == (
            Message.Status.CANCELLED,
            Reason.UNSUBSCRIBED,
            None,
        )
        assert pending.changed_at is not None  # the report rollups redo its days
    assert DueStep.objects.get(pk=retry.pk).status == DueStep.Status.CANCELLED
    assert Message.objects.get(pk=sent.pk).status == Message.Status.SENT  # history stays
    sms = Consent.objects.get(customer=customer, channel="sms")
    assert sms.status == Consent.Status.WITHDRAWN
    assert sms.evidence
    unsubscribed = Event.objects.get(customer=customer, type="unsubscribed")
    assert "sms" in unsubscribed.properties["channels"]
    assert unsubscribed.properties["method"] == sms.method


def test_unsubscribing_from_every_channel_records_when(customer: Customer) -> None:
    """Do-not-contact comes with its time, whichever path set it."""
    Consent.objects.create(
        customer=customer,
        channel="email",
        status=Consent.Status.GRANTED,
        recorded_at=timezone.now(),
        method=Consent.Method.IMPORT,
    )
    sent = message(customer, "email", Message.Status.SENT)
    before = timezone.now()
    url = reverse("messaging:unsubscribe", args=[token_for(sent)])
    assert Client().post(url, {"scope": "all"}).status_code == 200
    customer.refresh_from_db()
    assert customer.do_not_contact
    assert customer.do_not_contact_at is not None and customer.do_not_contact_at >= before
    assert customer.do_not_contact_reason
