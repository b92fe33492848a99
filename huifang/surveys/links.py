"""Personal questionnaire links: one signed link per recipient, message and version.

The token names the questionnaire version, the customer, the message that carried it and the
channel, signed with the deployment's secret (a salt of its own, so no other signed value of
Huifang opens a questionnaire), so it can be neither guessed nor changed to another
customer's. It works for ``SURVEY_LINK_DAYS`` (30 by default) after it was made; an older
link still names its customer, so the expiry page speaks the customer's language.

The first opening starts the customer's response (``started_at``); every later one, from any
browser, continues that same response — one response per version, customer and message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from huifang.accounts.models import StaffProfile
from huifang.core.hooks import Port
from huifang.customers.models import Channel, Customer
from huifang.organisation.services import base_url

from .models import Response, SurveyVersion

_SALT = "huifang.surveys.link"

# The rule a message was sent by (messaging, above surveys, provides it): a response opened
# from a message's link is counted under that rule in the results.
message_rule: Port[Callable[[int], int | None]] = Port("the rule of a message")


def lifetime() -> timedelta:
    return timedelta(days=settings.HUIFANG_SURVEY_LINK_DAYS)


def token_for(
    version: SurveyVersion,
    customer: Customer,
    *,
    message_id: int | None = None,
    channel: str = "sms",
) -> str:
    """The signed token of ``link_for``: compact, because it goes into text messages."""
    payload = [version.pk, customer.pk, message_id, channel]
    return signing.dumps(payload, salt=_SALT, compress=True)


def link_for(
    version: SurveyVersion,
    customer: Customer,
    *,
    message_id: int | None = None,
    channel: str = "sms",
) -> str:
    """The absolute personal link to ``version`` for ``customer``, as it goes into a message."""
    token = token_for(version, customer, message_id=message_id, channel=channel)
    return f"{base_url()}{reverse('surveys:answer', args=[token])}"


@dataclass(frozen=True)
class Opened:
    """What a link opens: its customer (``None``: not a link of ours, or its customer or
    questionnaire is gone), whether it expired, and — when it did not — the response."""

    customer: Customer | None = None
    expired: bool = False
    response: Response | None = None


def open_link(token: str, *, now: datetime | None = None) -> Opened:
    """Read ``token``; a genuine, unexpired link gets its response, created on first open."""
    try:
        payload = signing.loads(token, salt=_SALT, max_age=lifetime())
        expired = False
    except signing.SignatureExpired:
        payload, expired = signing.loads(token, salt=_SALT), True
    except signing.BadSignature:
        return Opened()
    named = _named(payload)
    if named is None:
        return Opened()
    version_id, customer_id, message_id, channel = named
    version = SurveyVersion.objects.select_related("survey").filter(pk=version_id).first()
    customer = Customer.objects.filter(pk=customer_id).first()
    if version is None or customer is None:
        return Opened()
    if expired:
        return Opened(customer, expired=True)
    # A link carries no task: the lookup leaves the agent's phone responses alone. The rule
    # and the team are looked up only when the response is made (first open), for results.
    defaults: dict[str, Any] = {  # callables: Django calls them only to create
        "channel": channel,
        "started_at": now or timezone.now(),
        "rule_id": lambda: message_rule()(message_id) if message_id is not None else None,
        "team_id": lambda: team_of(customer),
    }
    response, _created = Response.objects.select_related("version__survey").get_or_create(
        version=version, customer=customer, message_id=message_id, task_id=None, defaults=defaults
    )
    return Opened(customer, response=response)


def team_of(customer: Customer) -> int | None:
    """The team results count a customer's response under: its owner's team, when it has an
    owner who is in one."""
    if customer.owner_id is None:
        return None
    return (
        StaffProfile.objects.filter(user_id=customer.owner_id)
        .values_list("team_id", flat=True)
        .first()
    )


def _named(payload: Any) -> tuple[int, int, int | None, str] | None:
    """The payload's parts when it has the shape ``token_for`` gives it."""
    if not isinstance(payload, list) or len(payload) != 4:
        return None
    version_id, customer_id, message_id, channel = payload
    ids = [version_id, customer_id] + ([] if message_id is None else [message_id])
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return None
    if channel not in Channel.values:
        return None
    return version_id, customer_id, message_id, channel
