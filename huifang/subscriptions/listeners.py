"""What the lower apps tell, turned into deliveries: connected to their hooks in
``SubscriptionsConfig.ready()``. Each runs in the transaction of the change it hears about,
so a delivery exists exactly when the change was committed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from huifang.customers.models import Customer, Event
from huifang.messaging.models import Message
from huifang.tasks.models import Task

from . import events as payloads
from .services import enqueue, listening

# customers' event types (``customers.event_types``) that are subscription events
_FROM_EVENTS = {"message_replied": "message.replied", "survey_answered": "survey.answered"}


def on_tasks(kind: str, tasks: Sequence[Task], now: datetime) -> None:
    event_type = f"task.{kind}"
    if not listening(event_type):
        return  # the engine opens tasks in thousands: read nothing nobody asked for
    loaded = Task.objects.select_related("customer", "team", "assignee", "rule").in_bulk(
        [t.pk for t in tasks]
    )
    chosen = [loaded[t.pk] for t in tasks if t.pk in loaded]
    enqueue(event_type, chosen, payloads.task_data, now=now)


def on_messages(kind: str, ids: Sequence[int], now: datetime) -> None:
    event_type = f"message.{kind}"
    if not listening(event_type):
        return
    found = Message.objects.select_related("customer", "rule").filter(pk__in=list(ids))
    # As the message stands now: one the same batch moved on already is told as it is.
    enqueue(event_type, sorted(found, key=lambda m: m.pk), payloads.message_data, now=now)


def on_customers(kind: str, customers: Sequence[Customer], now: datetime) -> None:
    enqueue(f"customer.{kind}", list(customers), payloads.customer_data, now=now)


def on_events(stored: Sequence[Event], now: datetime) -> None:
    for source, event_type in _FROM_EVENTS.items():
        chosen = [e for e in stored if e.type == source]
        if chosen and listening(event_type):
            _enqueue_events(event_type, chosen, now)


def _enqueue_events(event_type: str, chosen: list[Event], now: datetime) -> None:
    customers = Customer.objects.in_bulk({e.customer_id for e in chosen})
    present = [e for e in chosen if e.customer_id in customers]
    enqueue(
        event_type,
        present,
        lambda e: payloads.event_data(e, customers[e.customer_id]),
        now=now,
    )


def on_withdrawn(customer: Customer, channels: list[str] | None, now: datetime) -> None:
    enqueue(
        "customer.unsubscribed",
        [customer],
        lambda c: payloads.unsubscribed_data(c, channels),
        now=now,
    )
