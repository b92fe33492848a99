"""Unsubscribe links: one signed link per message, for the customer who received it.

The link only identifies the message (signed with the deployment's secret, so it cannot be
guessed or altered). Opening it (GET) changes nothing — mail scanners and link previews open
every link — it shows what will happen and asks. Confirming (POST, or RFC 8058's one-click
POST from the mail client, which carries no cookie and no CSRF token) withdraws consent for the
message's channel, or for every channel and sets do-not-contact; the consent change is recorded
with its evidence and goes on the timeline, and the customer's pending messages on those
channels are cancelled.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from huifang.customers.models import Channel, Consent, Customer, Event
from huifang.customers.schemas import ConsentIn
from huifang.customers.services import record_consent
from huifang.engine.models import DueStep
from huifang.engine.triggers import on_events

from .models import Message, Reason

_SALT = "huifang.unsubscribe"
CHANNEL, ALL = "channel", "all"


def token_for(message: Message | int) -> str:
    pk = message if isinstance(message, int) else message.pk
    return signing.dumps(pk, salt=_SALT, compress=True)


def url_for(message: Message | int) -> str:
    """The absolute unsubscribe link for a message, as it goes into its text and headers."""
    return f"{settings.HUIFANG_BASE_URL}{_path()}{token_for(message)}/"


@lru_cache(maxsize=1)
def _path() -> str:
    # Resolved once: the dispatcher makes a link for every e-mail it sends.
    marker = "TOKEN"
    path = reverse("messaging:unsubscribe", args=[marker])
    return path[: path.index(marker)]


def message_for(token: str) -> Message | None:
    try:
        pk = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(pk, int):
        return None
    return Message.objects.select_related("customer").filter(pk=pk, customer__isnull=False).first()


def unsubscribe(
    message: Message, scope: str, *, evidence: str, now: datetime | None = None
) -> list[str]:
    """Withdraw consent for the message's channel (``CHANNEL``) or every channel (``ALL``);
    returns the channels withdrawn. Idempotent: a second confirmation changes nothing more."""
    now = now or timezone.now()
    customer = message.customer
    assert customer is not None  # message_for finds customers' messages only
    if scope == ALL:
        channels = list(Channel.values)
    else:
        channels = [message.channel] if message.channel else list(message.channels)
    with transaction.atomic():
        for channel in channels:
            current = Consent.objects.filter(customer=customer, channel=channel).first()
            if current is None or current.status != Consent.Status.WITHDRAWN:
                record_consent(
                    customer,
                    ConsentIn(
                        channel=Channel(channel),
                        status=Consent.Status.WITHDRAWN,
                        method=Consent.Method.UNSUBSCRIBE_LINK,
                        recorded_at=now,
                        text_version="",
                        evidence=evidence[:2000],
                    ),
                    now=now,
                )
        # The timeline shows it, and rules with ``exit: {on: [unsubscribed]}`` end their plans.
        unsubscribed = Event.objects.create(
            customer=customer,
            type="unsubscribed",
            occurred_at=now,
            source=Event.Source.SYSTEM,
            properties={"channels": channels, "scope": scope, "message": message.pk},
        )
        on_events([unsubscribed], now)
        if scope == ALL and not customer.do_not_contact:
            customer.do_not_contact = True
            customer.save(update_fields=["do_not_contact"])
        cancel_pending(customer, None if scope == ALL else channels, now=now)
    return channels


def cancel_pending(customer: Customer, channels: list[str] | None, *, now: datetime) -> int:
    """Cancel the customer's queued and held messages (on ``channels``, or all of them) with
    the reason "unsubscribed"; returns how many."""
    pending = Message.objects.filter(
        customer=customer,
        status__in=[Message.Status.QUEUED, Message.Status.DEFERRED],
    )
    if channels is not None:
        pending = pending.filter(channel__in=channels)
    ids = list(pending.values_list("id", flat=True))
    if ids:
        Message.objects.filter(pk__in=ids).update(
            status=Message.Status.CANCELLED, reason=Reason.UNSUBSCRIBED, deferred_until=None
        )
        DueStep.objects.filter(
            message_id__in=ids, status__in=[DueStep.Status.DUE, DueStep.Status.PAUSED]
        ).update(status=DueStep.Status.CANCELLED, done_at=now)
    return len(ids)
