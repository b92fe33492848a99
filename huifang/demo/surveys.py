"""The demo's questionnaire answers as real responses, so 问卷 → results shows the loop.

The events already hold what demo customers answered (``survey_answered``: 购后满意度 and
诊后回访 with a 1–5 score, NPS with 0–10). Here each of them becomes a submitted response of
the matching ready questionnaire at the event's moment: the same score in its score question,
the other questions answered along the document's own jumps (``next_question``), with words
that fit the score. Most came through a link sent by SMS or e-mail a little earlier (a sent
``Message`` carrying the questionnaire), some by phone; more links went out than came back,
a few of them opened and left. No event is added, so the customers' figures stay as written.

Bounded: the latest ``LATEST`` answers of each questionnaire (all of them up to about 5,000
customers): about 1 s of a default load (2,000 customers), 5 s of a 100,000-customer one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from huifang.customers.models import Customer, Event
from huifang.messaging.models import Message
from huifang.rules.models import Rule
from huifang.surveys.answering import EVENT, answer_rows, metrics
from huifang.surveys.document import Question, SurveyDocument, next_question
from huifang.surveys.models import Answer, Response, SurveyVersion
from huifang.surveys.services import load_survey_library, sendable_version

from . import data

LATEST = 1500  # answers per questionnaire, the latest first
# The event's ``survey`` → the ready questionnaire it stands for.
QUESTIONNAIRES = {
    "购后满意度": "purchase-satisfaction",
    "NPS": "quarterly-nps",
    "诊后回访": "clinic-recovery-check",
}
# The ready strategy (and its step) that sends the questionnaire, where there is one.
SENDERS = {"quarterly-nps": ("quarterly-nps-survey", "ask")}
PHONE_SHARE = 0.1  # answered on a call, no link
EMAIL_SHARE = 0.35  # of those with an e-mail address, the link went by e-mail
ANSWER_RATE = (0.30, 0.45)  # of the links sent, the share answered (per questionnaire)
OPENED_SHARE = 0.15  # of the links not answered, opened and left


@dataclass
class Answered:
    responses: int = 0
    sent: int = 0


@dataclass
class _Asked:
    """One answer to make: the event's customer, moment and score."""

    customer_id: int
    name: str
    email: str
    team_id: int | None
    at: datetime
    score: int


def answer_demo_surveys(seed: int, now: datetime) -> Answered:
    """Responses (and the links sent) for the ``survey_answered`` events of the demo customers
    of ``seed``; the same seed gives the same responses."""
    load_survey_library()
    rng = random.Random(f"{seed}:surveys")
    prefix = f"DEMO{seed}-"
    done = Answered()
    with transaction.atomic():
        for label, key in QUESTIONNAIRES.items():
            version = sendable_version(key)
            if version is None:
                continue  # someone archived the ready questionnaire: nothing to answer
            asked = _asked(prefix, label)
            if asked:
                _answer(rng, version, key, asked, prefix, now, done)
    return done


def _asked(prefix: str, label: str) -> list[_Asked]:
    rows = (
        Event.objects.filter(
            type=EVENT, customer__external_id__startswith=prefix, properties__survey=label
        )
        .order_by("-occurred_at", "-id")
        .values_list(
            "customer_id",
            "customer__name",
            "customer__email",
            "customer__owner__staff_profile__team_id",
            "occurred_at",
            "score",
            "nps",
        )[:LATEST]
    )
    # Results count a response under its customer's owner's team, as ``surveys.links.team_of``
    # does for a real one (and as the sent links count): none for a customer without an owner.
    return [
        _Asked(cid, name, email, team, at, _score(score, nps))
        for cid, name, email, team, at, score, nps in reversed(rows)
    ]


def _score(score: int | None, nps: int | None) -> int:
    return int(nps if nps is not None else score or 0)


def _answer(
    rng: random.Random,
    version: SurveyVersion,
    key: str,
    asked: list[_Asked],
    prefix: str,
    now: datetime,
    done: Answered,
) -> None:
    doc = SurveyDocument.model_validate(version.content)
    rule_key, step = SENDERS.get(key, ("", ""))
    rule_id = Rule.objects.filter(key=rule_key).values_list("id", flat=True).first()
    template, text = data.SURVEY_INVITATIONS[key]
    scale = _score_question(doc)
    responses: list[Response] = []
    messages: list[Message] = []
    for one in asked:
        answers = _walk(rng, doc, key, scale, one)
        scores = metrics(doc, answers)
        channel = _channel(rng, one.email)
        response = Response(
            version=version,
            customer_id=one.customer_id,
            channel=channel,
            rule_id=rule_id,
            team_id=one.team_id,
            started_at=one.at - timedelta(seconds=rng.randint(40, 400)),
            submitted_at=one.at,
            answers=answers,
            csat=scores.get("csat"),
            nps=scores.get("nps"),
            ces=scores.get("ces"),
        )
        responses.append(response)
        if channel != "phone":
            sent_at = one.at - timedelta(minutes=rng.randint(5, 36 * 60))
            messages.append(_message(version, one, channel, sent_at, rule_id, step, template, text))
    answered = len(messages)
    unanswered = round(answered / rng.uniform(*ANSWER_RATE)) - answered
    opened = _unanswered(rng, version, asked, unanswered, prefix, now, rule_id, step, key)
    Message.objects.bulk_create([*messages, *(m for m, _r in opened)], batch_size=500)
    with_link = iter(messages)
    for response in responses:
        if response.channel != "phone":
            response.message_id = next(with_link).pk
    for message, left in opened:
        if left is not None:
            left.message_id = message.pk
            responses.append(left)
    Response.objects.bulk_create(responses, batch_size=500)
    rows: list[Answer] = []
    for response in responses:
        rows.extend(answer_rows(response, response.answers))
    Answer.objects.bulk_create(rows, batch_size=500)
    done.responses += len(responses)
    done.sent += len(messages) + len(opened)


def _unanswered(
    rng: random.Random,
    version: SurveyVersion,
    asked: list[_Asked],
    count: int,
    prefix: str,
    now: datetime,
    rule_id: int | None,
    step: str,
    key: str,
) -> list[tuple[Message, Response | None]]:
    """Links nobody answered, sent to customers of the same business like the answered ones
    and around the same days; some opened (a response started, nothing submitted)."""
    line = Customer.objects.filter(pk=asked[0].customer_id).values_list("business_line", flat=True)
    pool = list(
        Customer.objects.filter(
            external_id__startswith=prefix, business_line__in=line, do_not_contact=False
        )
        .order_by("pk")
        .values_list("pk", "name", "email", "owner__staff_profile__team_id")
    )
    if not pool or count <= 0:
        return []
    template, text = data.SURVEY_INVITATIONS[key]
    made: list[tuple[Message, Response | None]] = []
    for _ in range(count):
        cid, name, email, team = rng.choice(pool)
        like = rng.choice(asked)
        sent_at = like.at - timedelta(days=rng.randint(0, 20), minutes=rng.randint(5, 600))
        channel = "email" if email and rng.random() < EMAIL_SHARE else "sms"
        customer = _Asked(cid, name, email, team, sent_at, 0)
        message = _message(version, customer, channel, sent_at, rule_id, step, template, text)
        response = None
        if rng.random() < OPENED_SHARE:
            response = Response(
                version=version,
                customer_id=cid,
                channel=channel,
                rule_id=rule_id,
                team_id=customer.team_id,
                started_at=min(now, sent_at + timedelta(minutes=rng.randint(1, 240))),
            )
        made.append((message, response))
    return made


def _message(
    version: SurveyVersion,
    one: _Asked,
    channel: str,
    sent_at: datetime,
    rule_id: int | None,
    step: str,
    template: str,
    text: str,
) -> Message:
    return Message(
        customer_id=one.customer_id,
        rule_id=rule_id,
        step=step,
        channel=channel,
        channels=[channel],
        template=template,
        status=Message.Status.DELIVERED,
        planned_at=sent_at,
        queued_at=sent_at,
        ready_at=sent_at,
        sent_at=sent_at,
        delivered_at=sent_at + timedelta(seconds=20),
        attempts=1,
        survey_version=version,
        body=text.format(name=one.name),
        created_at=sent_at,
    )


def _channel(rng: random.Random, email: str) -> str:
    roll = rng.random()
    if roll < PHONE_SHARE:
        return "phone"
    return "email" if email and roll < PHONE_SHARE + EMAIL_SHARE else "sms"


# -- the answers -------------------------------------------------------------------------------


def _score_question(doc: SurveyDocument) -> str:
    """The question the event's score answers: the one feeding CSAT or NPS, else the first
    scale."""
    for question in doc.questions:
        if question.feeds() in ("csat", "nps"):
            return question.id
    return next(q.id for q in doc.questions if q.scale() is not None)


def _mood(key: str, score: int) -> str:
    if key == "quarterly-nps":
        return "low" if score <= 6 else "mid" if score <= 8 else "high"
    return "low" if score <= 2 else "mid" if score == 3 else "high"


def _walk(
    rng: random.Random, doc: SurveyDocument, key: str, scored: str, one: _Asked
) -> dict[str, Any]:
    """Answers along the path the document's jumps take from the first question."""
    mood = _mood(key, one.score)
    answers: dict[str, Any] = {}
    current: str | None = doc.questions[0].id
    while current is not None:
        question = doc.questions[doc.index_of(current)]
        value = one.score if current == scored else _value(rng, question, key, mood, one.at)
        if value is not None:
            answers[current] = value
        current = next_question(doc, current, value)
    return answers


def _value(rng: random.Random, question: Question, key: str, mood: str, at: datetime) -> Any:
    options = [option.value for option in question.options or []]
    if question.type == "single_choice":
        liked = [v for v in data.CLINIC_SYMPTOMS.get(mood, ()) if v in options]
        return rng.choice(liked or options)
    if question.type == "multiple_choice":
        if not question.required and rng.random() < 0.2:
            return None
        chosen = set(rng.sample(options, min(len(options), rng.choice((1, 1, 2)))))
        return [value for value in options if value in chosen]
    if question.type in ("text", "long_text"):
        if not question.required and rng.random() > {"low": 0.8, "mid": 0.5}.get(mood, 0.35):
            return None
        return rng.choice(_texts(key, question.id, mood))
    if question.type == "date":
        return (at + timedelta(days=rng.randint(7, 30))).date().isoformat()
    scale = question.scale()
    if scale is not None and question.required:
        return rng.randint(*scale)
    return None


def _texts(key: str, question: str, mood: str) -> Sequence[str]:
    if key == "quarterly-nps":
        return data.NPS_PROMOTER_TEXTS if question == "promoter" else data.NPS_DETRACTOR_TEXTS
    if key == "clinic-recovery-check":
        return data.CLINIC_NOTES[mood]
    return data.PURCHASE_COMMENTS[mood]
