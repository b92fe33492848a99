"""Messaging's part of a customer's follow-up history (``huifang.customers.timeline``): every
gate decision on their messages (sent, held until when and why, dropped and why), and where each
message the gate let through stands now."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.customers.event_properties import PropertyType, event_properties
from huifang.customers.models import Channel, Customer
from huifang.customers.timeline import Entry, Source
from huifang.organisation.zones import customer_zone

from .log import status_note
from .models import Message, MessageTemplate, Reason


def message_entries(customer: Customer, limit: int) -> list[Entry]:
    tz = customer_zone(customer)
    # The customer's own clock is shown beside the viewer's when the two differ.
    foreign = customer.time_zone != timezone.get_current_timezone_name()
    entries: list[Entry] = []
    messages = (
        Message.objects.filter(customer=customer)
        .select_related("rule", "template_version__template")
        .annotate(last_attempt=Max("attempt_log__started_at"))
    )
    channels = dict(Channel.choices)
    rows = list(messages.order_by("-created_at")[:limit])
    templates = _template_names(rows)
    for message in rows:
        # In words: the rule and the template by their names, never step ids or keys.
        template = templates.get((message.template, message.channel), message.template)
        rule = message.rule.name if message.rule else ""
        name = " · ".join(p for p in dict.fromkeys((rule, template)) if p)
        url = reverse("messaging:message", args=[message.pk])
        if message.status not in _SAID_BY_DECISIONS:
            entries.append(_outcome(message, name, url, channels))
        for decision in message.decisions:
            at = datetime.fromisoformat(decision["at"])
            channel = str(channels.get(decision.get("channel", ""), ""))
            action = decision["action"]
            reason = str(Reason(decision["reason"]).label) if decision.get("reason") else ""
            until = datetime.fromisoformat(decision["until"]) if decision.get("until") else None
            kind = {"send": "sent", "defer": "deferred", "drop": "dropped"}[action]
            entries.append(
                Entry(
                    at,
                    kind,
                    name,
                    " · ".join(p for p in (channel, reason) if p),
                    at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if foreign else "",
                    until,
                    url,
                )
            )
    return entries


# Held and dropped messages are told by the gate's decisions, with their reasons.
_SAID_BY_DECISIONS = (Message.Status.DEFERRED, Message.Status.DROPPED)


def _template_names(messages: Sequence[Message]) -> dict[tuple[str, str], str]:
    """The names of the templates ``messages`` used, by (key, channel), in one query."""
    keys = {m.template for m in messages}
    return {
        (key, channel): name
        for key, channel, name in MessageTemplate.objects.filter(key__in=keys).values_list(
            "key", "channel", "name"
        )
    }


def _outcome(message: Any, name: str, url: str, channels: dict[str, Any]) -> Entry:
    """Where a message the gate let through stands now: sent, delivered, failed, uncertain …"""
    version = message.template_version
    parts = [
        str(channels.get(message.channel, message.channel)),
        _("template version %(n)s") % {"n": version.number} if version else "",
        status_note(message),
    ]
    return Entry(
        message.sent_at or message.last_attempt or message.queued_at or message.created_at,
        "message",
        name,
        " · ".join(p for p in parts if p),
        url=url,
        status=message.status,
        label=message.get_status_display(),
    )


SOURCE = Source("messages", message_entries)


def register_properties() -> None:
    """The message an event came from is an id: the timeline links to its page instead."""
    if "message" not in event_properties:
        event_properties.register(PropertyType("message", gettext_lazy("Message"), "hidden"))
