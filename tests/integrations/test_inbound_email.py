"""E-mail replies: a relay POSTs them signed to the provider's reply URL; the reply is matched to
the message it answers by In-Reply-To (our Message-ID, as a real SMTP server received it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from huifang.customers.models import Customer, Event
from huifang.engine.models import Enrollment
from huifang.integrations.email.inbound import callback_urls, signing_secret
from huifang.integrations.models import Provider
from huifang.integrations.webhook.transport import sign
from huifang.messaging.models import Message
from huifang.messaging.services import save_template
from tests.engine.world import World, local
from tests.integrations.fakes import Sink, smtp_sink

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[tuple[Sink, int]]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # an admin allowed the local relay
    with smtp_sink() as served:  # a real local SMTP server that keeps what it receives
        yield served


@dataclass
class Mailbox:
    provider: Provider  # the SMTP provider messages go out through, and replies come back to
    sink: Sink


@pytest.fixture
def mail(request: pytest.FixtureRequest) -> Mailbox:
    handler, port = request.getfixturevalue("smtp_server")
    provider = Provider(name="客服邮箱", kind="email", channel="email")
    provider.set_settings(
        {"host": "127.0.0.1", "port": port, "security": "none", "sender": "hi@shop.example.cn"}
    )
    provider.save()
    return Mailbox(provider, handler)


def mailed(world: World, mail: Mailbox) -> tuple[Customer, Message]:
    """王芳 bought; the rule's e-mail went out over SMTP and now waits three days for a reply."""
    world.rule(
        {
            "key": "mail-and-wait",
            "name": "mail, then wait for a reply",
            "trigger": {"kind": "event", "event": "purchase"},
            "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
            "steps": [
                {
                    "id": "ask",
                    "send": {"channel": "email", "template": "ask-by-mail"},
                    "wait_reply": {"days": 3},
                    "on_reply": "stop",
                },
                {"id": "again", "send": {"channel": "email", "template": "ask-by-mail"}},
            ],
        }
    )
    customer = world.customer("王芳", email="wangfang@example.com")
    world.event(customer, "purchase", amount=800)
    world.run()
    message = Message.objects.get(customer=customer)
    assert message.status == "sent"
    (received,) = mail.sink.messages
    assert received["Message-ID"] == message.provider_ref
    return customer, message


def reply(message: Message | None = None, /, **fields: Any) -> dict[str, Any]:
    return {
        "from": "王芳 <WangFang@Example.com>",
        "to": "hi@shop.example.cn",
        "subject": "Re: 回访",
        "text": "挺好用的，谢谢",
        "in_reply_to": message.provider_ref if message else "",
        "message_id": "<CAF-reply-1@mail.example.com>",
        **fields,
    }


def post(
    world: World,
    provider: Provider,
    payload: Any,
    *,
    secret: str | None = None,
    signed_at: datetime | None = None,
    headers: bool = True,
) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    now = world.now + timedelta(minutes=1)
    stamp = int((signed_at or now).timestamp())
    signature = {
        "X-Huifang-Timestamp": str(stamp),
        "X-Huifang-Signature": sign(secret or signing_secret(provider), stamp, body),
    }
    path = urlsplit(callback_urls(provider)["reply"]).path
    with time_machine.travel(now, tick=False):
        return Client().post(
            path,
            data=body,
            content_type="application/json",
            headers=signature if headers else None,
        )


def replies() -> list[Event]:
    return list(Event.objects.filter(type="message_replied"))


def test_a_signed_reply_is_matched_to_its_message_and_ends_the_plan(
    world: World, mail: Mailbox
) -> None:
    customer, message = mailed(world, mail)
    answer = post(world, mail.provider, reply(message))
    (event,) = replies()
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "recorded": True, "event": event.pk, "message": message.pk}
    assert event.customer_id == customer.pk
    assert event.properties == {"channel": "email", "text": "挺好用的，谢谢", "message": message.pk}
    enrollment = Enrollment.objects.get(customer=customer)
    assert (enrollment.status, enrollment.end_reason) == ("completed", "replied")


def test_a_reply_from_another_address_is_matched_by_our_message_id(
    world: World, mail: Mailbox
) -> None:
    customer, message = mailed(world, mail)
    post(world, mail.provider, reply(message, **{"from": "wf.home@example.net"}))
    (event,) = replies()
    assert (event.customer_id, event.properties["message"]) == (customer.pk, message.pk)


def test_a_guessed_message_id_reaches_only_the_senders_own_messages(
    world: World, mail: Mailbox
) -> None:
    wangfang, message = mailed(world, mail)
    lilei = world.customer("李雷", email="lilei@example.com")
    guess = f"<1.2.3.hf{message.pk}@shop.example.cn>"
    post(world, mail.provider, reply(**{"from": "lilei@example.com", "in_reply_to": guess}))
    (event,) = replies()
    assert event.customer_id == lilei.pk
    assert "message" not in event.properties
    assert Enrollment.objects.get(customer=wangfang).status == "active"


def test_a_delivery_repeated_by_the_relay_is_recorded_once(world: World, mail: Mailbox) -> None:
    _customer, message = mailed(world, mail)
    first = post(world, mail.provider, reply(message))
    again = post(world, mail.provider, reply(message))
    assert first.json()["event"] == again.json()["event"]
    assert len(replies()) == 1


def test_a_reply_from_a_stranger_is_answered_ok_and_ignored(world: World, mail: Mailbox) -> None:
    mailed(world, mail)
    answer = post(world, mail.provider, reply(**{"from": "who@elsewhere.example"}))
    assert answer.json() == {"ok": True, "recorded": False, "reason": "unknown sender"}
    assert not replies()


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"headers": False}, 401),
        ({"secret": "not-the-secret"}, 403),
        ({"signed_at": local("2026-11-02 09:55")}, 403),  # six minutes old: a replay
    ],
)
def test_a_bad_or_stale_signature_is_refused(
    world: World,
    mail: Mailbox,
    change: dict[str, Any],
    status: int,
) -> None:
    customer, message = mailed(world, mail)
    answer = post(world, mail.provider, reply(message), **change)
    assert (answer.status_code, answer.json()["ok"]) == (status, False)
    assert not replies()
    assert Enrollment.objects.get(customer=customer).status == "active"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"from": "wangfang@example.com", "text": ', "malformed JSON"),
        (b'["wangfang@example.com"]', "expected a JSON object"),
        (b'{"from": "not an address", "text": "hi"}', "'from' must be an e-mail address"),
        (b'{"text": "hi"}', "missing field 'from'"),
    ],
)
def test_a_malformed_reply_is_a_400(world: World, mail: Mailbox, body: bytes, error: str) -> None:
    mailed(world, mail)
    answer = post(world, mail.provider, body)
    assert answer.status_code == 400
    assert error in answer.json()["error"]
    assert not replies()


def test_the_reply_url_needs_its_token(world: World, mail: Mailbox) -> None:
    path = urlsplit(callback_urls(mail.provider)["reply"]).path
    assert Client().post(path.replace(f"/{mail.provider.pk}/", "/999/"), data={}).status_code == 404
    assert callback_urls(mail.provider)["reply"].startswith("http://localhost:8000/inbound/email/")


def test_a_scored_e_mail_reply_is_a_survey_answer(world: World, mail: Mailbox) -> None:
    """The template asks for a CSAT: "5分，谢谢" by e-mail is a 5, on the customer's figures."""
    save_template(
        "ask-by-mail", "email", name="回访", subject="回访", body="请回复1–5分", asks="csat"
    )
    customer, message = mailed(world, mail)
    answer = post(world, mail.provider, reply(message, text="5分，谢谢"))
    assert answer.status_code == 200
    assert not replies()
    (event,) = Event.objects.filter(type="survey_answered")
    assert (event.properties["csat"], event.properties["message"]) == (5, message.pk)
    customer.refresh_from_db()
    assert customer.last_satisfaction == 5
    enrollment = Enrollment.objects.get(customer=customer)
    assert (enrollment.status, enrollment.end_reason) == ("completed", "replied")
