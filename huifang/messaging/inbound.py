"""Answers that come back: a customer's reply to a message.

Whatever the channel and provider (the inbound endpoints parse their formats), a reply becomes
one ``message_replied`` event on the customer's timeline (with the customer's derived figures
refreshed, as for every event) — so a cadence waiting for a reply moves on, and rules that exit
on replies end, in the transaction that stores it. An SMS reply that is a stop word (退订, TD,
T, N, STOP …) also withdraws the customer's SMS consent, as carriers require and customers
expect.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from huifang.customers import derived
from huifang.customers.models import Channel, Consent, Customer, Event
from huifang.customers.schemas import ConsentIn
from huifang.customers.services import record_consent
from huifang.engine.triggers import on_events

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
        event = Event.objects.create(
            customer=customer,
            type="message_replied",
            occurred_at=received_at or now,
            source=Event.Source.WEBHOOK,
            idempotency_key=key,
            properties=properties,
        )
        derived.refresh([customer.pk], now=now)
        on_events([event], now)
        if channel == Channel.SMS and is_stop(text):
            current = Consent.objects.filter(customer=customer, channel=Channel.SMS).first()
            if current is None or current.status != Consent.Status.WITHDRAWN:
                record_consent(
                    customer,
                    ConsentIn(
                        channel=Channel.SMS,
                        status=Consent.Status.WITHDRAWN,
                        method=Consent.Method.SMS_REPLY,
                        recorded_at=received_at or now,
                        text_version="",
                        evidence=f"SMS reply “{text[:200]}” ({provider_ref or 'no provider id'})",
                    ),
                    now=now,
                )
    return event
