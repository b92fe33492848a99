"""Each event type is enqueued where it happens — in the service that makes the change, in
its transaction — with a payload that masks contact details."""

from __future__ import annotations

from typing import Any

import pytest

from huifang.customers.consent import withdraw_consent
from huifang.customers.events import record_event
from huifang.customers.models import Customer
from huifang.customers.services import upsert_customers
from huifang.integrations import dry_run
from huifang.integrations.inbound import Report
from huifang.messaging import receipts
from huifang.messaging.inbound import record_reply
from huifang.subscriptions.events import event_types
from huifang.subscriptions.models import Delivery
from huifang.tasks.services import create_tasks, reassign
from tests.engine.world import World, local
from tests.rules.test_document import EXAMPLE

from .conftest import subscribe

pytestmark = pytest.mark.django_db
EVERY = [e.key for e in event_types]
URL = "https://hooks.example.com/huifang"


def told(event_type: str) -> list[dict[str, Any]]:
    return [d.body["data"] for d in Delivery.objects.filter(event_type=event_type).order_by("id")]


def test_tasks_created_and_assigned(bob: Any, carol: Any, customer: Customer) -> None:
    subscribe(URL, *EVERY)
    (task,) = create_tasks([customer], title="回访", actor=carol, team=None, assignee=bob)
    reassign([task], to=carol, reason="bob 休假", actor=carol)
    assert [d["task"]["id"] for d in told("task.created")] == [task.pk]
    assert [d["task"]["assignee"] for d in told("task.assigned")] == ["bob", "carol"]
    assert told("task.completed") == []


def test_messages_sent_delivered_and_replied_and_a_stop_word(world: World) -> None:
    subscribe(URL, *EVERY)
    world.rule(EXAMPLE)
    customer = world.customer("王芳", tier="vip", phone="+8613912345678")
    world.event(customer, "purchase", amount=800)
    world.travel(local("2026-11-05 11:00"))
    (message,) = world.sent(customer)
    assert [d["message"]["id"] for d in told("message.sent")] == [message.pk]

    record_reply(customer, "sms", "退订", provider_ref="r-1", message_id=message.pk, now=world.now)

    (replied,) = told("message.replied")
    assert replied["event"]["text"] == "退订" and replied["event"]["message"] == message.pk
    (unsubscribed,) = told("customer.unsubscribed")
    assert unsubscribed["scope"] == "channel" and unsubscribed["channels"] == ["sms"]
    assert unsubscribed["customer"]["phone"] == "139****5678"
    assert "13912345678" not in str(list(Delivery.objects.values_list("payload", flat=True)))


def test_a_delivery_receipt(world: World) -> None:
    subscribe(URL, "message.delivered", "message.failed")
    world.rule(EXAMPLE)
    customer = world.customer("王芳")
    world.event(customer, "purchase", amount=800)
    world.travel(local("2026-11-05 11:00"))
    (message,) = world.sent(customer)
    report = Report(reference=message.provider_ref, delivered=True)
    receipts.apply(message.provider_id, [report], now=world.now)  # type: ignore[arg-type]
    receipts.apply(message.provider_id, [report], now=world.now)  # type: ignore[arg-type]
    (delivered,) = told("message.delivered")  # a repeated receipt changes nothing
    assert delivered["message"]["status"] == "delivered"
    assert told("message.failed") == []


def test_customers_created_updated_and_every_channel_withdrawn(db: None) -> None:
    subscribe(URL, "customer.created", "customer.updated", "customer.unsubscribed")
    upsert_customers([{"external_id": "A-1", "name": "李雷", "email": "lilei@example.cn"}])
    upsert_customers([{"external_id": "A-1", "tier": "vip"}])
    customer = Customer.objects.get(external_id="A-1")
    withdraw_consent(customer, None, method="verbal", evidence="电话里说不要再联系")
    (created,) = told("customer.created")
    assert created["external_id"] == "A-1" and created["email"] == "l***@example.cn"
    (updated,) = told("customer.updated")
    assert updated["tier"] == "vip"
    (withdrawn,) = told("customer.unsubscribed")
    assert withdrawn["scope"] == "all" and withdrawn["channels"] is None
    assert withdrawn["customer"]["do_not_contact"] is True


def test_a_questionnaire_answered(customer: Customer) -> None:
    subscribe(URL, "survey.answered")
    record_event(
        customer.pk,
        "survey_answered",
        properties={"survey": "after-sale", "response": 7, "csat": 5},
    )
    (answered,) = told("survey.answered")
    assert answered["event"] | {"id": 0, "occurred_at": ""} == {
        "id": 0,
        "occurred_at": "",
        "type": "survey_answered",
        "survey": "after-sale",
        "response": 7,
        "csat": 5,
    }


def test_one_event_has_one_id_for_every_subscription(customer: Customer, bob: Any) -> None:
    subscribe(URL, "task.created")
    subscribe(URL + "/2", "task.created", name="工单系统")
    create_tasks([customer], title="回访", actor=bob, team=None)
    first, second = Delivery.objects.order_by("id")
    assert first.event_id == second.event_id
    assert first.subscription_id != second.subscription_id


def test_nothing_is_told_of_a_simulation(customer: Customer, bob: Any) -> None:
    subscribe(URL, *EVERY)
    with dry_run():
        create_tasks([customer], title="回访", actor=bob, team=None)
    assert Delivery.objects.count() == 0
