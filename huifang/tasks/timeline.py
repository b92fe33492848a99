"""The tasks' part of a customer's follow-up history (``huifang.customers.timeline``)."""

from __future__ import annotations

from huifang.customers.models import Customer
from huifang.customers.timeline import Entry, Source

from .models import Task


def task_entries(customer: Customer, limit: int) -> list[Entry]:
    tasks = Task.objects.filter(customer=customer).order_by("-created_at")[:limit]
    return [
        Entry(task.created_at, "task", task.title, task.get_priority_display()) for task in tasks
    ]


SOURCE = Source("tasks", task_entries)
