"""The tasks' part of a customer's follow-up history (``huifang.customers.timeline``)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from huifang.core.templatetags.huifang import staff_name
from huifang.customers.models import Customer, Event
from huifang.customers.timeline import Entry, Source

from . import access
from .models import Task


def task_entries(customer: Customer, limit: int) -> list[Entry]:
    tasks = (
        Task.objects.filter(customer=customer)
        .select_related("assignee__staff_profile")
        .order_by("-created_at")[:limit]
    )
    return [
        Entry(
            task.created_at,
            "task",
            task.title,
            " · ".join(
                part
                for part in (
                    str(task.get_status_display()),
                    str(task.get_outcome_display()) if task.outcome else "",
                    str(task.get_priority_display()),
                    staff_name(task.assignee) if task.assignee else "",
                )
                if part
            ),
            url=reverse("tasks:detail", args=[task.pk]),
            link_label=_("Open the task"),
        )
        for task in tasks
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
