"""Replies as scores: a reply to a message whose template asks for a score is recorded as that
score (one ``survey_answered`` event, and the questionnaire's answer when the message carried
one) when it is clearly one; anything else stays a reply."""

from __future__ import annotations

import pytest
import yaml
from django.core.exceptions import ValidationError

from huifang.customers.models import Consent, Customer, Event
from huifang.messaging.inbound import record_reply
from huifang.messaging.models import Message, MessageTemplate
from huifang.messaging.services import LIBRARY, load_template_library, save_template
from huifang.surveys.models import Answer, Response
from tests.engine.world import World, local
from tests.surveys.answering import flow_version

pytestmark = pytest.mark.django_db

NOW = local("2026-11-02 10:00")


def asked(
    customer: Customer, asks: str = "csat", channel: str = "sms", **fields: object
) -> Message:
    """A message sent to ``customer`` from a template that asks for ``asks``."""
    saved = save_template(
        f"ask-{asks or 'none'}",
        channel,
        name="满意度",
        body="请回复1-5为本次服务打分",
        subject="回访" if channel == "email" else "",
        asks=asks,
    )
    return Message.objects.create(
        customer=customer,
        channel=channel,
        channels=[channel],
        template=saved.template.key,
        template_version=saved.version,
        status=Message.Status.SENT,
        planned_at=NOW,
        created_at=NOW,
        sent_at=NOW,
        **fields,
    )


@pytest.fixture
def customer(world: World) -> Customer:
    return world.customer("王芳")


def reply(customer: Customer, text: str, message: Message | None, **kwargs: object) -> Event:
    kwargs.setdefault("channel", message.channel if message else "sms")
    return record_reply(
        customer,
        text=text,
        message_id=message.pk if message else None,
        now=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


CSAT_FORMS = [
    ("1", 1),
    ("5", 5),
    ("５", 5),
    ("３", 3),
    ("一", 1),
    ("五", 5),
    ("4分", 4),
    ("五星", 5),
    ("5，谢谢", 5),
    ("满意", 4),
    ("非常满意", 5),
    ("不满意", 2),
    ("很不满意", 1),
    ("一般", 3),
    (" 2。", 2),
]


@pytest.mark.parametrize(("text", "score"), CSAT_FORMS)
def test_a_reply_that_is_a_score_is_recorded_as_one(
    customer: Customer, text: str, score: int
) -> None:
    message = asked(customer)
    event = reply(customer, text, message)
    assert event.type == "survey_answered"
    assert event.properties == {
        "channel": "sms",
        "text": text,
        "message": message.pk,
        "csat": score,
        "asked": "csat",
    }
    assert event.score == score
    customer.refresh_from_db()
    assert customer.last_satisfaction == score
    assert not Event.objects.filter(type="message_replied").exists()


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "6",
        "10",
        "3或4",
        "4 5",
        "-1",
        "2.5",
        "我买了2件，质量很好",
        "好的",
        "5 天",
        "",
        "未解决",
    ],
)
def test_anything_else_stays_a_reply(customer: Customer, text: str) -> None:
    message = asked(customer)
    event = reply(customer, text, message)
    assert event.type == "message_replied"
    assert event.score is None
    assert event.properties == {"channel": "sms", "text": text, "message": message.pk}


@pytest.mark.parametrize("text", ["T", "N", "0000", "退订", "TD", "Ｔ"])
def test_an_sms_stop_word_is_never_a_score_and_withdraws_consent(
    customer: Customer, text: str
) -> None:
    message = asked(customer, "nps")  # on NPS, 0 would be a score
    event = reply(customer, text, message)
    assert event.type == "message_replied"
    consent = Consent.objects.get(customer=customer, channel="sms")
    assert consent.status == Consent.Status.WITHDRAWN


@pytest.mark.parametrize(
    ("asks", "text", "score"),
    [("nps", "0", 0), ("nps", "10", 10), ("nps", "九", 9), ("ces", "7", 7), ("ces", "１", 1)],
)
def test_nps_and_ces_are_read_on_their_own_scales(
    customer: Customer, asks: str, text: str, score: int
) -> None:
    event = reply(customer, text, asked(customer, asks))
    assert (event.type, event.properties[asks], event.properties["asked"]) == (
        "survey_answered",
        score,
        asks,
    )
    customer.refresh_from_db()
    assert getattr(customer, f"last_{asks}") == score
    assert customer.last_satisfaction is None  # an NPS of 9 is never a satisfaction of 9


@pytest.mark.parametrize(("asks", "text"), [("nps", "满意"), ("nps", "11"), ("ces", "8")])
def test_out_of_scale_or_csat_words_stay_replies(customer: Customer, asks: str, text: str) -> None:
    assert reply(customer, text, asked(customer, asks)).type == "message_replied"


def test_a_message_that_asks_nothing_gets_replies(customer: Customer) -> None:
    assert reply(customer, "5", asked(customer, "")).type == "message_replied"
    assert reply(customer, "5", None).type == "message_replied"


def test_a_scored_reply_the_provider_repeats_is_stored_once(customer: Customer) -> None:
    message = asked(customer)
    first = reply(customer, "2", message, provider_ref="r-1")
    again = reply(customer, "2", message, provider_ref="r-1")
    assert first.pk == again.pk
    assert Event.objects.filter(type="survey_answered").count() == 1


def test_by_email_too(customer: Customer) -> None:
    event = reply(customer, "满意，谢谢", asked(customer, channel="email"))
    assert (event.type, event.properties["csat"]) == ("survey_answered", 4)


def test_a_message_carrying_a_questionnaire_gets_its_answer(customer: Customer) -> None:
    version = flow_version()
    message = asked(customer, survey_version=version)
    event = reply(customer, "2", message, provider_ref="r-1")
    response = Response.objects.get()
    assert (response.version, response.customer, response.message_id) == (
        version,
        customer,
        message.pk,
    )
    assert (response.channel, response.csat, response.submitted_at) == ("sms", 2, NOW)
    assert response.answers == {"csat": 2}
    assert list(Answer.objects.values_list("question", "number")) == [("csat", 2.0)]
    assert event.properties["response"] == response.pk
    assert event.properties["survey"] == "flow-check"
    # A second reply changes the one answer; still one event per reply, no event of its own.
    reply(customer, "五", message, provider_ref="r-2")
    response.refresh_from_db()
    assert (Response.objects.count(), response.csat, response.answers) == (1, 5, {"csat": 5})
    assert Event.objects.filter(type="survey_answered").count() == 2


def test_a_questionnaire_without_that_metric_is_left_alone(customer: Customer) -> None:
    version = flow_version()  # asks CSAT and NPS, not CES
    event = reply(customer, "3", asked(customer, "ces", survey_version=version))
    assert event.type == "survey_answered"
    assert "response" not in event.properties
    assert not Response.objects.exists()


def test_a_template_asks_only_known_scores() -> None:
    with pytest.raises(ValidationError) as raised:
        save_template("x", "sms", name="x", body="hi", asks="stars")
    assert "asks" in raised.value.message_dict


def test_asks_is_versioned_content() -> None:
    first = save_template("x", "sms", name="x", body="请回复1-5")
    second = save_template("x", "sms", name="x", body="请回复1-5", asks="csat")
    assert second.changed and second.version.number == 2 and first.version.asks == ""
    assert not save_template("x", "sms", name="x", body="请回复1-5", asks="csat").changed


def test_loading_the_ready_templates_declares_the_score_on_unchanged_copies() -> None:
    entries = {
        (e["key"], e["channel"]): e for e in yaml.safe_load(LIBRARY.read_text(encoding="utf-8"))
    }
    for key, channel in (("satisfaction-24h", "sms"), ("review-7d", "sms")):
        entry = entries[(key, channel)]
        save_template(key, channel, name=entry["name"], body=entry["body"])  # saved before
    rewritten = "我们改写过的文字"
    save_template("review-7d", "sms", name="邀评", body=rewritten)
    load_template_library()
    asks = {
        (t.key, t.channel): t.current_version.asks
        for t in MessageTemplate.objects.select_related("current_version")
        if t.current_version is not None
    }
    assert asks[("satisfaction-24h", "sms")] == "csat"  # unchanged ready text: now declared
    assert asks[("review-7d", "sms")] == ""  # someone rewrote it: left alone
    assert asks[("ticket-csat", "sms")] == asks[("ticket-csat", "email")] == "csat"
    assert asks[("review-7d", "email")] == "csat"
    assert not load_template_library()  # nothing more the second time
