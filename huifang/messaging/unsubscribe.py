"""Unsubscribe links: one signed link per message, for the customer who received it.

The link only identifies the message (signed with the deployment's secret, so it cannot be
guessed or altered). Opening it (GET) changes nothing — mail scanners and link previews open
every link — it shows what will happen and asks. Confirming (POST, or RFC 8058's one-click
POST from the mail client, which carries no cookie and no CSRF token) withdraws consent for the
message's channel, or for every channel and sets do-not-contact; the consent change is recorded
with its evidence and goes on the timeline, and the customer's pending messages on those
channels are cancelled.

A link works for ``UNSUBSCRIBE_LINK_DAYS`` (90 by default) after it was made, when the message
was sent: an old link found in a forwarded mail or a mailbox leak cannot withdraw a consent
given again since. An expired link says so politely and how to unsubscribe another way (a
stop word in reply to a text message, or the service staff). Confirming again changes nothing
and records nothing: the same confirmation is shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core import signing
from django.urls import reverse

from huifang.customers.consent import withdraw_consent
from huifang.customers.models import Channel, Consent, Customer
from huifang.organisation.services import base_url

from .models import Message, Reason

_SALT = "huifang.unsubscribe"
CHANNEL, ALL = "channel", "all"


def token_for(message: Message | int) -> str:
    """What ``signing.dumps(pk, salt=_SALT, compress=True)`` makes — an integer's JSON is its
    digits, too short to compress — with one signer per secret instead of a new one for each
    link: the dispatcher makes a link for every e-mail (6 µs instead of 19)."""
    pk = message if isinstance(message, int) else message.pk
    return _signer(settings.SECRET_KEY).sign(signing.b64_encode(str(int(pk)).encode()).decode())


@lru_cache(maxsize=4)
def _signer(secret: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(key=secret, salt=_SALT)


def url_for(message: Message | int) -> str:
    """The absolute unsubscribe link for a message, as it goes into its text and headers."""
    return f"{base_url()}{_path()}{token_for(message)}/"


@lru_cache(maxsize=1)
def _path() -> str:
    # Resolved once: the dispatcher makes a link for every e-mail it sends.
    marker = "TOKEN"
    path = reverse("messaging:unsubscribe", args=[marker])
    return path[: path.index(marker)]


def lifetime() -> timedelta:
    return timedelta(days=settings.HUIFANG_UNSUBSCRIBE_LINK_DAYS)


@dataclass(frozen=True)
class Found:
    """What a link names: its message (``None``: not one of ours), and whether it expired."""

    message: Message | None
    expired: bool = False


def find(token: str) -> Found:
    try:
        pk = signing.loads(token, salt=_SALT, max_age=lifetime())
        expired = False
    except signing.SignatureExpired:
        # Genuine but old: its message still tells the page which language to speak.
        pk, expired = signing.loads(token, salt=_SALT), True
    except signing.BadSignature:
        return Found(None)
    if not isinstance(pk, int):
        return Found(None)
    message = (
        Message.objects.select_related("customer").filter(pk=pk, customer__isnull=False).first()
    )
    return Found(message, expired=expired and message is not None)


def unsubscribe(
    message: Message, scope: str, *, evidence: str, now: datetime | None = None
) -> list[str]:
    """Withdraw consent for the message's channel (``CHANNEL``) or every channel (``ALL``,
    which also sets do-not-contact); returns the channels withdrawn. Idempotent: a second
    confirmation (a replayed request, a reload) records nothing and returns the same."""
    customer = message.customer
    assert customer is not None  # find() finds customers' messages only
    if scope == ALL:
        channels = None
    else:
        channels = [message.channel] if message.channel else list(message.channels)
    if already(customer, channels):
        return list(Channel.values) if channels is None else channels
    return withdraw_consent(
        customer,
        channels,
        method=Consent.Method.UNSUBSCRIBE_LINK,
        evidence=evidence,
        now=now,
        details={"message": message.pk},
    )


def already(customer: Customer, channels: list[str] | None) -> bool:
    """Whether the customer has withdrawn consent on ``channels`` (every channel, and asked
    not to be contacted, for ``None``)."""
    names = list(Channel.values) if channels is None else channels
    withdrawn = set(
        Consent.objects.filter(
            customer=customer, channel__in=names, status=Consent.Status.WITHDRAWN
        ).values_list("channel", flat=True)
    )
    return withdrawn >= set(names) and (channels is not None or customer.do_not_contact)


def cancel_pending(customer: Customer, channels: list[str] | None, now: datetime) -> int:
    """Cancel the customer's queued and held messages (on ``channels``, or all of them) with
    the reason "unsubscribed"; returns how many. Registered with ``withdraw_consent``, which
    is the only caller; the engine's own listener then cancels the retries of these messages."""
    pending = Message.objects.filter(
        customer=customer,
        status__in=[Message.Status.QUEUED, Message.Status.DEFERRED],
    )
    if channels is not None:
        pending = pending.filter(channel__in=channels)
    return pending.update(
        status=Message.Status.CANCELLED,
        reason=Reason.UNSUBSCRIBED,
        deferred_until=None,
        changed_at=now,
    )
