"""The event types a subscription can choose, and what each one's payload holds.

The list is fixed and documented (docs/subscriptions.md): a receiver's code depends on it.
Every payload names the customer with masked contact details (``customers.pii``): the phone
and e-mail as the pages show them by default, never in full — a receiver that needs them
reads them through the API with a token that may reveal, which is audited there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huifang.core.registry import Registry
from huifang.customers.models import Customer, Event
from huifang.customers.pii import masked
from huifang.messaging.models import Message
from huifang.tasks.models import Task


@dataclass(frozen=True)
class EventType:
    key: str
    label: str | Promise
    description: str | Promise


event_types: Registry[EventType] = Registry("subscription event types")
for _entry in (
    EventType("task.created", _("Task created"), _("A follow-up task was opened.")),
    EventType("task.assigned", _("Task assigned"), _("A task was given to a member of staff.")),
    EventType("task.completed", _("Task completed"), _("A task was closed as done.")),
    EventType("message.sent", _("Message sent"), _("A provider accepted a message.")),
    EventType(
        "message.delivered", _("Message delivered"), _("A delivery receipt says it arrived.")
    ),
    EventType("message.failed", _("Message failed"), _("A message could not be delivered.")),
    EventType("message.replied", _("Message replied"), _("A customer replied to a message.")),
    EventType("survey.answered", _("Questionnaire answered"), _("A customer answered.")),
    EventType("customer.created", _("Customer created"), _("A customer was added.")),
    EventType("customer.updated", _("Customer updated"), _("A customer's profile changed.")),
    EventType(
        "customer.unsubscribed",
        _("Customer unsubscribed"),
        _("A customer withdrew consent for a channel, or for every channel."),
    ),
):
    event_types.register(_entry)

TEST = "subscription.test"  # the page's "send test": no customer, not chosen by anyone


def when(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def customer_data(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.pk,
        "external_id": customer.external_id,
        "name": customer.name,
        "phone": masked(customer, "phone"),
        "email": masked(customer, "email"),
        "tier": customer.tier,
        "lifecycle_stage": customer.lifecycle_stage,
        "do_not_contact": customer.do_not_contact,
    }


def task_data(task: Task) -> dict[str, Any]:
    return {
        "task": {
            "id": task.pk,
            "title": task.title,
            "kind": task.kind,
            "status": task.status,
            "priority": task.priority,
            "outcome": task.outcome,
            "score": task.score,
            "team": task.team.key if task.team_id and task.team else None,
            "assignee": (
                task.assignee.get_username() if task.assignee_id and task.assignee else None
            ),
            "rule": task.rule.key if task.rule_id and task.rule else None,
            "due_at": when(task.due_at),
            "created_at": when(task.created_at),
            "assigned_at": when(task.assigned_at),
            "closed_at": when(task.closed_at),
        },
        "customer": customer_data(task.customer),
    }


def message_data(message: Message) -> dict[str, Any]:
    return {
        "message": {
            "id": message.pk,
            "channel": message.channel,
            "template": message.template,
            "status": message.status,
            "rule": message.rule.key if message.rule_id and message.rule else None,
            "step": message.step,
            "planned_at": when(message.planned_at),
            "sent_at": when(message.sent_at),
            "delivered_at": when(message.delivered_at),
            "error": message.error,
        },
        # A staff notification has no customer.
        "customer": customer_data(message.customer) if message.customer is not None else None,
    }


# An event's properties that a payload carries, per event type: never a contact detail.
_REPLY = ("channel", "text", "message")
_ANSWER = ("survey", "version", "response", "message", "task", "csat", "nps", "ces", "asked")


def event_data(event: Event, customer: Customer) -> dict[str, Any]:
    """A ``message_replied`` or ``survey_answered`` event as its payload."""
    keys = _REPLY if event.type == "message_replied" else _ANSWER
    properties = event.properties or {}
    return {
        "event": {
            "id": event.pk,
            "type": event.type,
            "occurred_at": when(event.occurred_at),
            **{key: properties[key] for key in keys if key in properties},
        },
        "customer": customer_data(customer),
    }


def unsubscribed_data(customer: Customer, channels: Iterable[str] | None) -> dict[str, Any]:
    return {
        "scope": "all" if channels is None else "channel",
        "channels": None if channels is None else list(channels),
        "customer": customer_data(customer),
    }
