"""A customer opens a short link: the click is kept, on the message and on the timeline."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from huifang.customers.events import record_event

from . import links
from .models import Click, Message


def follow(
    token: str, *, user_agent: str = "", count: bool = True, now: datetime | None = None
) -> str | None:
    """The URL behind ``token`` (``None`` for a token that is not ours or names no link),
    recording the click unless ``count`` is false (a HEAD request: link checkers)."""
    found = links.parse(token)
    if found is None:
        return None
    message_id, index = found
    message = Message.objects.filter(pk=message_id).only("id", "customer_id", "links").first()
    if message is None or not 0 <= index < len(message.links):
        return None
    url = str(message.links[index])
    if not url.startswith(("http://", "https://")):  # only what a template could have put there
        return None
    if count:
        now = now or timezone.now()
        with transaction.atomic():
            Click.objects.create(
                message=message, index=index, url=url, clicked_at=now, user_agent=user_agent[:300]
            )
            if message.customer_id is not None:
                # On the timeline, and a trigger like any event ("clicked the offer → call").
                record_event(
                    message.customer_id,
                    "link_clicked",
                    now=now,
                    refresh=False,
                    properties={"message": message.pk, "url": url[:500]},
                )
    return url
