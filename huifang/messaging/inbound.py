"""Answers that come back: a customer's reply to a message.

Whatever the channel and provider (the inbound endpoints parse their formats), a reply becomes
one ``message_replied`` event on the customer's timeline (with the customer's derived figures
refreshed, as for every event) — so a cadence waiting for a reply moves on, and rules that exit
on replies end, in the transaction that stores it. An SMS reply that is a stop word (退订, TD,
T, N, STOP …) also withdraws the customer's SMS consent, as carriers require and customers
expect.

**Replies as scores.** When the message answered asks for a score (its template version's
``asks``: csat, nps or ces) and the reply is clearly one (``core.scores.parse_score``: 5, ５,
五, 满意 …), the reply is recorded instead as one ``survey_answered`` event carrying that score
— the customer's CSAT / NPS / CES figures move, and a rule's ``answer.*`` branch judges it —
and, when the message carried a questionnaire, as that questionnaire's answer too. A stop
word is never a score.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from huifang.core.scores import CES, CSAT, NPS, parse_score
from huifang.customers.consent import withdraw_consent
from huifang.customers.events import record_event
from huifang.customers.models import Channel, Consent, ContactPoint, Customer, Event
from huifang.customers.phones import mask_phone
from huifang.integrations.inbound import EmailReply, Report, SmsReply
from huifang.surveys.answering import record_scored_reply
from huifang.surveys.models import SurveyVersion

from . import receipts
from .models import Message

logger = logging.getLogger("huifang.messaging")

# Replies that mean "stop sending me SMS", compared after trimming spaces and punctuation and
# ignoring case and full-width forms.
STOP_WORDS = frozenset(
    {"退订", "退", "td", "t", "n", "stop", "unsubscribe", "取消", "取消订阅", "退订短信", "0000"}
)


def _normalised(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return re.sub(r"[\s\.,!?;:，。！？；：、]+", "", folded)


def is_stop(text: str) -> bool:
    return _normalised(text) in STOP_WORDS


def record_reply(
    customer: Customer,
    channel: str,
    text: str,
    *,
    received_at: datetime | None = None,
    provider_ref: str = "",
    message_id: int | None = None,
    now: datetime | None = None,
) -> Event:
    """Store a reply; a stop word on SMS also withdraws SMS consent. Replies repeated by a
    provider (same ``provider_ref``) are stored once."""
    now = now or timezone.now()
    properties: dict[str, object] = {"channel": channel, "text": text[:2000]}
    if message_id is not None:
        properties["message"] = message_id
    key = f"reply:{channel}:{provider_ref}"[:200] if provider_ref else None
    with transaction.atomic():
        if key is not None:
            earlier = Event.objects.filter(idempotency_key=key).first()
            if earlier is not None:
                return earlier
        kind = "message_replied"
        scored = score_of(text, message_id)
        if scored is not None:
            kind = "survey_answered"
            properties |= {scored.metric: scored.score, "asked": scored.metric}
            response = _answer_questionnaire(customer, channel, message_id, scored, now)
            if response is not None:
                properties |= response
        event = record_event(
            customer.pk,
            kind,
            now=now,
            occurred_at=received_at or now,
            source=Event.Source.WEBHOOK,
            idempotency_key=key,
            properties=properties,
        )
        if channel == Channel.SMS and is_stop(text):
            withdraw_consent(
                customer,
                [Channel.SMS],
                method=Consent.Method.SMS_REPLY,
                evidence=f"SMS reply “{text[:200]}” ({provider_ref or 'no provider id'})",
                now=received_at or now,
                details={"reply": event.pk},
            )
    return event


@dataclass(frozen=True)
class Scored:
    """A reply read as a score: the metric the message asked for, and the score."""

    metric: str
    score: int
    survey_version_id: int | None


SCALES = {"csat": CSAT, "nps": NPS, "ces": CES}


def score_of(text: str, message_id: int | None) -> Scored | None:
    """The score a reply to message ``message_id`` means, when that message asked for one
    and the reply is clearly one; ``None`` otherwise (and always for a stop word)."""
    if message_id is None or is_stop(text):
        return None
    found = (
        Message.objects.filter(pk=message_id)
        .values_list("template_version__asks", "survey_version_id")
        .first()
    )
    if found is None or found[0] not in SCALES:
        return None
    asked, survey_version = found
    score = parse_score(text, SCALES[asked])
    return None if score is None else Scored(asked, score, survey_version)


def _answer_questionnaire(
    customer: Customer, channel: str, message_id: int | None, scored: Scored, now: datetime
) -> dict[str, object] | None:
    """The score as the answer to the questionnaire the message carried, if it did and the
    questionnaire asks that metric; what the event says of the response then."""
    if scored.survey_version_id is None or message_id is None:
        return None
    version = (
        SurveyVersion.objects.select_related("survey").filter(pk=scored.survey_version_id).first()
    )
    if version is None:
        return None
    response = record_scored_reply(
        version,
        customer,
        scored.metric,
        scored.score,
        channel=channel,
        message_id=message_id,
        now=now,
    )
    if response is None:
        return None
    return {"survey": version.survey.key, "version": version.number, "response": response.pk}


# -- who replied ---------------------------------------------------------------------------------


def customers_by_phone(phone: str) -> list[Customer]:
    """The customers with this E.164 number, as their phone or an extra contact point. Where
    several share it (a family's phone), the one we texted last comes first: that is whom they
    answer."""
    return _latest_contacted_first(
        Channel.SMS,
        Customer.objects.filter(phone=phone).values_list("pk", flat=True),
        ContactPoint.objects.filter(kind=ContactPoint.Kind.PHONE, value=phone).values_list(
            "customer_id", flat=True
        ),
    )


def customer_by_email(address: str) -> Customer | None:
    """The customer with this e-mail address (stored lower-case), the one we wrote to last
    where several share it."""
    address = address.strip().lower()
    found = _latest_contacted_first(
        Channel.EMAIL,
        Customer.objects.filter(email=address).values_list("pk", flat=True),
        ContactPoint.objects.filter(kind=ContactPoint.Kind.EMAIL, value=address).values_list(
            "customer_id", flat=True
        ),
    )
    return found[0] if found else None


def _latest_contacted_first(channel: str, *candidates: Iterable[int]) -> list[Customer]:
    ids = {pk for group in candidates for pk in group}
    if not ids:
        return []
    latest = last_message(channel, ids) if len(ids) > 1 else None
    first = latest.customer_id if latest and latest.customer_id else min(ids)
    by_pk = Customer.objects.in_bulk(ids)
    return [by_pk[pk] for pk in [first, *sorted(ids - {first})] if pk in by_pk]


def last_message(channel: str, customers: Iterable[int]) -> Message | None:
    """The latest message that went out to one of ``customers`` on ``channel`` — the one a
    reply most likely answers."""
    return (
        Message.objects.filter(
            customer_id__in=list(customers),
            channel=channel,
            status__in=[Message.Status.SENT, Message.Status.DELIVERED, Message.Status.UNCERTAIN],
        )
        .order_by(F("sent_at").desc(nulls_last=True), "-id")
        .first()
    )


def reply_by_phone(
    phone: str,
    text: str,
    *,
    received_at: datetime | None,
    provider_ref: str,
    now: datetime | None = None,
) -> Event | None:
    """Record an SMS reply from an E.164 number on the customer it answers; ``None`` (logged)
    when the number is nobody's. A stop word stops the number for every customer sharing it:
    whoever holds the phone asked for no more SMS to it."""
    customers = customers_by_phone(phone) if phone else []
    if not customers:
        logger.info("SMS reply from an unknown number %s ignored", mask_phone(phone) or "(none)")
        return None
    first, *others = customers
    message = last_message(Channel.SMS, [first.pk])
    event = record_reply(
        first,
        Channel.SMS,
        text,
        received_at=received_at,
        provider_ref=provider_ref,
        message_id=message.pk if message else None,
        now=now,
    )
    if is_stop(text):
        for other in others:
            # Its own idempotency key: the first customer's would return the first event.
            record_reply(
                other,
                Channel.SMS,
                text,
                received_at=received_at,
                provider_ref=f"{provider_ref}:{other.pk}",
                now=now,
            )
    return event


# -- the inbox the providers' pushes are handed to -----------------------------------------------


def answered(reply: EmailReply, sender: Customer | None) -> Message | None:
    """The message an e-mail reply answers: ours by its exact ``Message-ID``; else, where only
    the ``hf<id>`` part matches (the id was never recorded), the sender's own message only,
    since that part is easy to guess."""
    emails = Message.objects.filter(channel=Channel.EMAIL, customer__isnull=False)
    ids = list(reply.message_ids)
    exact = emails.filter(provider_ref__in=ids).order_by("-id").first() if ids else None
    if exact is not None or sender is None:
        return exact
    ours = list(reply.ours)
    return emails.filter(pk__in=ours, customer=sender).order_by("-id").first() if ours else None


class Inbox:
    """Receipts and replies as every provider kind hands them on (``integrations.inbound``)."""

    def receipts(self, provider_id: int, reports: Sequence[Report], now: datetime) -> int:
        return receipts.apply(provider_id, reports, now=now).pending

    def sms_reply(self, reply: SmsReply, now: datetime) -> None:
        reply_by_phone(
            reply.phone,
            reply.text,
            received_at=reply.received_at,
            provider_ref=reply.provider_ref,
            now=now,
        )

    def email_reply(self, reply: EmailReply, now: datetime) -> dict[str, Any]:
        sender = customer_by_email(reply.address)
        message = answered(reply, sender)
        customer = message.customer if message is not None else sender
        if customer is None:
            domain = reply.address.split("@")[-1]
            logger.info("e-mail reply from an unknown address ignored (%s)", domain)
            return {"recorded": False, "reason": "unknown sender"}
        if message is None:
            message = last_message(Channel.EMAIL, [customer.pk])
        event = record_reply(
            customer,
            Channel.EMAIL,
            reply.text or reply.subject,
            provider_ref=reply.reference,
            message_id=message.pk if message else None,
            now=now,
        )
        return {"recorded": True, "event": event.pk, "message": message.pk if message else None}
