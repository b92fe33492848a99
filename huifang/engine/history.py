"""A customer's follow-up history: plans, every gate decision on their messages, tasks.

This is what the customer page shows under "Follow-ups", newest first, so staff can see why a
customer is in a plan, which message went out when, and why one was held or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.customers.models import Channel, Customer
from huifang.messaging.log import status_note
from huifang.messaging.models import Message, Reason
from huifang.tasks.models import Task

from .models import Enrollment
from .plans import zone

LIMIT = 50


@dataclass
class Entry:
    at: datetime
    kind: str  # enrolled | ended | sent | deferred | dropped | message | task
    title: str
    detail: str = ""
    local: str = ""  # the moment on the customer's own clock, when it differs from the viewer's
    until: datetime | None = None
    url: str = ""  # the message's page in the message log
    status: str = ""  # a message's status, for its badge
    label: str = ""


def history(customer: Customer, *, limit: int = LIMIT) -> list[Entry]:
    tz = zone(customer.time_zone)
    # The customer's own clock is shown beside the viewer's when the two differ.
    foreign = customer.time_zone != timezone.get_current_timezone_name()
    entries: list[Entry] = []
    plans = Enrollment.objects.filter(customer=customer).select_related("rule", "version")
    for plan in plans.order_by("-started_at")[:limit]:
        rule = f"{plan.rule.name} v{plan.version.number}"
        entries.append(Entry(plan.started_at, "enrolled", rule, _why(plan)))
        if plan.ended_at:
            entries.append(
                Entry(
                    plan.ended_at, "ended", rule, f"{plan.get_status_display()} · {plan.end_reason}"
                )
            )
    messages = (
        Message.objects.filter(customer=customer)
        .select_related("rule", "template_version")
        .annotate(last_attempt=Max("attempt_log__started_at"))
    )
    channels = dict(Channel.choices)
    for message in messages.order_by("-created_at")[:limit]:
        name = f"{message.rule.name if message.rule else ''} · {message.step} · {message.template}"
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
    for task in Task.objects.filter(customer=customer).order_by("-created_at")[:limit]:
        entries.append(Entry(task.created_at, "task", task.title, task.get_priority_display()))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


# Held and dropped messages are told by the gate's decisions, with their reasons.
_SAID_BY_DECISIONS = (Message.Status.DEFERRED, Message.Status.DROPPED)


def _outcome(message: Any, name: str, url: str, channels: dict[str, Any]) -> Entry:
    """Where a message the gate let through stands now: sent, delivered, failed, uncertain …"""
    version = message.template_version
    parts = [
        str(channels.get(message.channel, message.channel)),
        f"{message.template} v{version.number}" if version else "",
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


def _why(plan: Enrollment) -> str:
    kind, _sep, value = plan.anchor.partition(":")
    labels: dict[str, Any] = {
        "event": _("triggered by event #%(value)s"),
        "date": _("date trigger %(value)s"),
        "segment": _("entered the segment %(value)s"),
        "recurring": _("recurring turn %(value)s"),
    }
    label = labels.get(kind)
    return str(label % {"value": value}) if label else plan.anchor
