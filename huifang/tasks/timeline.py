"""The tasks' part of a customer's follow-up history (``huifang.customers.timeline``)."""

from __future__ import annotations

from typing import Any

from huifang.customers.models import Customer, Event
from huifang.customers.timeline import Entry, Source

from . import access
from .models import Task


def task_entries(customer: Customer, limit: int) -> list[Entry]:
    tasks = Task.objects.filter(customer=customer).order_by("-created_at")[:limit]
    return [
        Entry(task.created_at, "task", task.title, task.get_priority_display()) for task in tasks
    ]


SOURCE = Source("tasks", task_entries)

# What a follow-up's event tells beyond its outcome: the agent's words.
PRIVATE = ("notes",)


def hide_unseen_notes(viewer: Any, events: list[Event]) -> None:
    """The notes on a follow-up event are for those who may see its task (``access``): an
    agent of another team reads the outcome, never what the agent wrote."""
    ids = {
        task
        for e in events
        if isinstance(task := (e.properties or {}).get("task"), int) and _private(e)
    }
    if not ids:
        return
    seen = set(access.visible(viewer).filter(pk__in=ids).values_list("pk", flat=True))
    for event in events:
        if _private(event) and event.properties.get("task") not in seen:
            event.properties = {k: v for k, v in event.properties.items() if k not in PRIVATE}


def _private(event: Event) -> bool:
    return isinstance(event.properties, dict) and any(k in event.properties for k in PRIVATE)
