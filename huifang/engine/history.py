"""A customer's follow-up history: plans, every gate decision on their messages, tasks.

This is what the customer page shows under "Follow-ups", newest first, so staff can see why a
customer is in a plan, which message went out when, and why one was held or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.customers.models import Channel, Customer
from huifang.messaging.models import Message, Reason
from huifang.tasks.models import Task

from .models import Enrollment
from .plans import zone

LIMIT = 50


@dataclass
class Entry:
    at: datetime
    kind: str  # enrolled | ended | sent | deferred | dropped | task
    title: str
    detail: str = ""
    local: str = ""  # the moment on the customer's own clock, when it differs from the viewer's
    until: datetime | None = None


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
    messages = Message.objects.filter(customer=customer).select_related("rule")
    channels = dict(Channel.choices)
    for message in messages.order_by("-created_at")[:limit]:
        name = f"{message.rule.name if message.rule else ''} · {message.step} · {message.template}"
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
                )
            )
    for task in Task.objects.filter(customer=customer).order_by("-created_at")[:limit]:
        entries.append(Entry(task.created_at, "task", task.title, task.get_priority_display()))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]


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
