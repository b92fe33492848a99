"""Replies: they stop the cadence waiting for them; a stop word on SMS withdraws SMS consent."""

from __future__ import annotations

import pytest

from huifang.customers.models import Consent, Customer, Event
from huifang.engine.models import Enrollment
from huifang.messaging.inbound import is_stop, record_reply
from tests.engine.world import World, local
from tests.rules.test_document import EXAMPLE

pytestmark = pytest.mark.django_db


def first_message_sent(world: World) -> Customer:
    world.rule(EXAMPLE)
    customer = world.customer("王芳", tier="vip")
    world.event(customer, "purchase", amount=800)
    world.travel(local("2026-11-05 11:00"))
    assert len(world.sent(customer)) == 1
    return customer


def sms_consent(customer: Customer) -> Consent:
    return Consent.objects.get(customer=customer, channel="sms")


def test_a_reply_ends_the_cadence_and_keeps_consent(world: World) -> None:
    customer = first_message_sent(world)
    record_reply(customer, "sms", "收到，挺好用的", provider_ref="r-1", now=world.now)
    assert Enrollment.objects.get(customer=customer).status == Enrollment.Status.EXITED
    assert sms_consent(customer).status == Consent.Status.GRANTED
    world.travel(local("2026-11-30 10:00"))
    assert len(world.sent(customer)) == 1
    reply = Event.objects.get(customer=customer, type="message_replied")
    assert reply.properties["text"] == "收到，挺好用的"


@pytest.mark.parametrize("text", ["退订", " TD ", "t", "Ｔ", "STOP!", "退订。", "n", "Unsubscribe"])
def test_a_stop_word_on_sms_withdraws_sms_consent(world: World, text: str) -> None:
    customer = first_message_sent(world)
    record_reply(customer, "sms", text, provider_ref="r-2", now=world.now)
    consent = sms_consent(customer)
    assert consent.status == Consent.Status.WITHDRAWN
    assert consent.method == Consent.Method.SMS_REPLY
    assert text.strip() in consent.evidence
    assert Enrollment.objects.get(customer=customer).status == Enrollment.Status.EXITED


@pytest.mark.parametrize("text", ["不要退订", "TDD", "test", "好的", "stop sending the blue one"])
def test_other_replies_are_not_stop_words(text: str) -> None:
    assert not is_stop(text)


def test_a_stop_word_by_email_does_not_touch_sms(world: World) -> None:
    customer = first_message_sent(world)
    record_reply(customer, "email", "退订", now=world.now)
    assert sms_consent(customer).status == Consent.Status.GRANTED


def test_a_reply_the_provider_repeats_is_stored_once(world: World) -> None:
    customer = first_message_sent(world)
    first = record_reply(customer, "sms", "好的", provider_ref="r-3", now=world.now)
    again = record_reply(customer, "sms", "好的", provider_ref="r-3", now=world.now)
    assert first.pk == again.pk
    assert Event.objects.filter(customer=customer, type="message_replied").count() == 1
