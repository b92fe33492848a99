"""A customer opens a short link: the click is kept, on the message and on the timeline.

Anyone can open a link, as often as they like, so a click is cheap and idempotent: a second
click on the same link of the same message within ``REPEAT`` writes nothing, the
``link_clicked`` event (a trigger like any event) is recorded once per link of a message
(its idempotency key), and what a machine fetches — HEAD requests, link previews, prefetches,
crawlers, a request with no browser at all — is redirected but never counted.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from huifang.customers.events import record_event
from huifang.customers.models import Event
from huifang.integrations.http import BlockedURL
from huifang.integrations.outbound import record_blocked

from . import links
from .models import Click, Message

logger = logging.getLogger(__name__)

# The same person clicking again (or a reload) within this is the same click.
REPEAT = timedelta(minutes=10)

# User agents of link previews, crawlers, mail scanners and scripts: words browsers never send.
_MACHINES = re.compile(
    r"bot\b|bot/|crawl|spider|preview|externalhit|facebookcatalog|embedly|slack|whatsapp|"
    r"telegram|discord|skypeuri|linkcheck|link.?scan|validator|barracuda|mimecast|proofpoint|"
    r"headless|python-|curl/|wget/|go-http-client|okhttp|java/|libwww|httpclient|scrapy|"
    r"microsoft office existence|ms-office|bingpreview",
    re.IGNORECASE,
)


def automated(user_agent: str, headers: Mapping[str, str]) -> bool:
    """Whether a GET is a machine's (a preview, a prefetch, a crawler), not a person's click."""
    purpose = headers.get("Sec-Purpose", "") or headers.get("Purpose", "")
    if "prefetch" in purpose.lower() or headers.get("X-Moz", "").lower() == "prefetch":
        return True
    return not user_agent.strip() or _MACHINES.search(user_agent) is not None


def follow(
    token: str, *, user_agent: str = "", count: bool = True, now: datetime | None = None
) -> str | None:
    """The URL behind ``token`` (``None`` for a token that is not ours, names no link, or
    leads somewhere a redirect must not: ``links.check_destination``), recording the click
    unless ``count`` is false (a HEAD request, a link preview). A link to an internal address
    is also in the audit log (``integrations.outbound``)."""
    found = links.parse(token)
    if found is None:
        return None
    message_id, index = found
    message = Message.objects.filter(pk=message_id).only("id", "customer_id", "links").first()
    if message is None or not 0 <= index < len(message.links):
        return None
    url = str(message.links[index])
    if links.ours(url):  # a personal questionnaire link: this installation, wherever it runs
        if count:
            _record(message, index, url, user_agent, now or timezone.now())
        return url
    try:
        links.check_destination(url)
    except BlockedURL as refused:
        logger.warning("short link of message %s not followed: %s", message.pk, refused)
        if refused.blocked is not None:
            record_blocked(refused.blocked, via="short link", message_id=message.pk)
        return None
    if count:
        _record(message, index, url, user_agent, now or timezone.now())
    return url


def _record(message: Message, index: int, url: str, user_agent: str, now: datetime) -> None:
    with transaction.atomic():
        clicks = Click.objects.filter(message=message, index=index)
        if clicks.filter(clicked_at__gt=now - REPEAT).exists():
            return
        Click.objects.create(
            message=message,
            index=index,
            url=links.shown(url),
            clicked_at=now,
            user_agent=user_agent[:300],
        )
        if message.customer_id is None:
            return
        key = f"link_clicked:{message.pk}:{index}"
        if Event.objects.filter(idempotency_key=key).exists():
            return
        try:
            with transaction.atomic():  # a click at the same moment may have recorded it
                # On the timeline, and a trigger like any event ("clicked the offer → call").
                record_event(
                    message.customer_id,
                    "link_clicked",
                    now=now,
                    refresh=False,
                    idempotency_key=key,
                    properties={"message": message.pk, "url": links.shown(url)[:500]},
                )
        except IntegrityError:
            pass
