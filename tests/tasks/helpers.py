"""People, customers and clock readings shared by the follow-up task tests.

The personas extend tests/conftest.py: bob (agent) and carol (supervisor) of the service team,
joined here by more agents made with ``agent()``. Times are wall-clock readings in Shanghai.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from huifang.accounts.models import StaffProfile, Team
from huifang.accounts.roles import Role
from huifang.customers.models import Customer
from huifang.tasks.models import Reminder, Task, TaskEvent
from huifang.tasks.services import Opening, open_tasks
from tests.conftest import make_staff

SHANGHAI = ZoneInfo("Asia/Shanghai")
_numbers = itertools.count(1)


def local(text: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    """``2026-11-02 10:00`` on the wall clock of ``zone`` (Shanghai unless told)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def agent(username: str, team: Team | None, **profile: Any) -> Any:
    """An agent of ``team``; ``profile`` sets StaffProfile fields (daily_capacity, languages …)."""
    user = make_staff(username, Role.AGENT, team=team)
    if profile:
        StaffProfile.objects.filter(user=user).update(**profile)
    return user


def supervisor(username: str, team: Team | None, **profile: Any) -> Any:
    user = make_staff(username, Role.SUPERVISOR, team=team)
    if profile:
        StaffProfile.objects.filter(user=user).update(**profile)
    return user


def a_customer(name: str = "李雷", **fields: Any) -> Customer:
    number = next(_numbers)
    fields.setdefault("phone", f"+86139{number:08d}")
    return Customer.objects.create(name=name, external_id=f"t-{number}", **fields)


def open_one(
    customer: Customer,
    team: Team | None,
    *,
    now: datetime,
    title: str = "回访",
    **fields: Any,
) -> Task:
    """One task opened the way the engine and the pages open them: SLA, assignee, reminders."""
    task = Task(customer=customer, team=team, title=title, created_at=now, **fields)
    (opened,) = open_tasks([Opening(task)], now=now)
    opened.refresh_from_db()
    return opened


def workload(assignee: Any, *, priority: str = "normal", count: int = 1, **fields: Any) -> None:
    """Open tasks already on ``assignee``'s desk (assigned before today unless told)."""
    fields.setdefault("assigned_at", local("2026-10-30 10:00"))
    fields.setdefault("status", Task.Status.OPEN)
    owner = a_customer("老客户")
    for _n in range(count):
        Task.objects.create(
            customer=owner, title="旧任务", assignee=assignee, priority=priority, **fields
        )


def assigned_events(task: Task) -> list[TaskEvent]:
    return list(TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.ASSIGNED))


def note_of(task: Task) -> str:
    """The note of the task's last assignment event: why it went where it went."""
    return str(assigned_events(task)[-1].data["note"])


def pending(task: Task) -> list[tuple[str, datetime, int | None]]:
    """The task's reminders still to fire, as (kind, due_at, recipient id), in time order."""
    rows = Reminder.objects.filter(task=task, status=Reminder.Status.DUE).order_by("due_at", "pk")
    return [(r.kind, r.due_at, r.recipient_id) for r in rows]
