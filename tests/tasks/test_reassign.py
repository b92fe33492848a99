"""Handing tasks to someone else, one or many at a time: a reason is required, each move is
kept in the task's history, and the timers follow the task to its new assignee."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from huifang.accounts.models import Notification, Team
from huifang.customers.models import Customer
from huifang.tasks.models import Reminder, Task, TaskEvent
from huifang.tasks.outcomes import Report, record
from huifang.tasks.reminders import tick
from huifang.tasks.services import cancel, reassign

from .helpers import a_customer, agent, local, open_one, pending

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

OPENED = local("2026-11-02 10:00")  # Monday
LATER = local("2026-11-02 11:00")


@pytest.fixture
def team(service_team: Team) -> Team:
    service_team.sla_hours = {"normal": 4}
    service_team.save()
    return service_team


@pytest.fixture
def dave(team: Team, bob: Any) -> Any:
    return agent("dave", team)


@pytest.fixture
def task(team: Team, bob: Any, dave: Any, customer: Customer) -> Task:
    task = open_one(customer, team, now=OPENED)
    assert task.assignee == bob
    return task


def moves(task: Task) -> list[TaskEvent]:
    return list(TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.REASSIGNED))


def test_it_hands_a_task_over_with_the_reason(task: Task, bob: Any, carol: Any, dave: Any) -> None:
    assert reassign([task], to=dave, reason="  bob 病假  ", actor=carol, now=LATER) == 1
    task.refresh_from_db()
    assert (task.assignee, task.assigned_at) == (dave, LATER)
    (moved,) = moves(task)
    assert moved.data == {"from": bob.pk, "to": dave.pk, "reason": "bob 病假"}
    assert (moved.actor, moved.at) == (carol, LATER)


def test_the_timers_follow_the_task(task: Task, bob: Any, carol: Any, dave: Any) -> None:
    reassign([task], to=dave, reason="bob 病假", actor=carol, now=LATER)
    assert pending(task) == [
        ("assigned", LATER, dave.pk),
        ("due_soon", local("2026-11-02 12:00"), dave.pk),
        ("overdue", local("2026-11-02 14:00"), dave.pk),
        # Escalations count from the opening, whoever has the task.
        ("escalate", local("2026-11-04 16:00"), None),
        ("escalate", local("2026-11-09 13:00"), None),
    ]
    skipped = Reminder.objects.filter(task=task, recipient=bob)
    assert set(skipped.values_list("status", "note")) == {("skipped", "replanned")}
    tick(local("2026-11-02 14:00"))
    assert not Notification.objects.filter(recipient=bob).exists()
    assert Notification.objects.filter(recipient=dave).count() == 3


def test_many_tasks_move_at_once_and_only_those_that_change_hands_count(
    team: Team, bob: Any, carol: Any, dave: Any
) -> None:
    tasks = [open_one(a_customer(), team, now=OPENED, assignee=bob) for _n in range(3)]
    theirs = open_one(a_customer(), team, now=OPENED, assignee=dave)
    done = open_one(a_customer(), team, now=OPENED, assignee=bob)
    record(done, Report(outcome="reached"), actor=bob, now=LATER)
    everything = [*tasks, theirs, done]

    assert reassign(everything, to=dave, reason="bob 调岗", actor=carol, now=LATER) == 3

    assert set(
        Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list("assignee", flat=True)
    ) == {dave.pk}
    assert [len(moves(t)) for t in everything] == [1, 1, 1, 0, 0]
    done.refresh_from_db()
    assert done.assignee == bob  # a closed task keeps who did it
    assert {m.data["reason"] for t in tasks for m in moves(t)} == {"bob 调岗"}


@pytest.mark.parametrize("reason", ["", "   \n"])
def test_a_reason_is_required_and_nothing_changes_without_one(
    task: Task, bob: Any, carol: Any, dave: Any, reason: str
) -> None:
    reminders_before = list(Reminder.objects.values_list("pk", "status", "recipient"))
    with pytest.raises(ValidationError) as refused:
        reassign([task], to=dave, reason=reason, actor=carol, now=LATER)
    assert "reason" in refused.value.message_dict
    task.refresh_from_db()
    assert (task.assignee, task.assigned_at) == (bob, OPENED)
    assert moves(task) == []
    assert list(Reminder.objects.values_list("pk", "status", "recipient")) == reminders_before


def test_a_task_can_go_back_to_the_team_queue(task: Task, bob: Any, carol: Any) -> None:
    assert reassign([task], to=None, reason="客户要求换人", actor=carol, now=LATER) == 1
    task.refresh_from_db()
    assert (task.assignee, task.assigned_at) == (None, None)
    assert moves(task)[0].data == {"from": bob.pk, "to": None, "reason": "客户要求换人"}
    assert [kind for kind, _due, _to in pending(task)] == ["escalate", "escalate"]


def test_cancelling_a_task_silences_its_timers(task: Task, bob: Any, carol: Any) -> None:
    cancel(task, actor=carol, reason="重复任务", now=LATER)
    task.refresh_from_db()
    assert (task.status, task.closed_at) == ("cancelled", LATER)
    (cancelled,) = TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.CANCELLED)
    assert cancelled.data == {"reason": "重复任务"}
    assert pending(task) == []
    assert tick(local("2026-11-20 10:00")) == 0
    # Cancelling twice changes nothing.
    cancel(task, actor=carol, reason="again", now=local("2026-11-03 10:00"))
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.CANCELLED).count() == 1


def test_on_day_one_without_any_provider_the_new_agent_hears_under_the_bell(
    task: Task, bob: Any, carol: Any, dave: Any
) -> None:
    from huifang.integrations.models import Provider

    assert not Provider.objects.exists()  # a fresh installation: nothing configured
    reassign([task], to=dave, reason="休假", actor=carol, now=LATER)
    tick(LATER)  # the worker's next minute
    (told,) = Notification.objects.filter(recipient=dave)
    assert task.customer.name in told.title + told.body and told.url == f"/tasks/{task.pk}/"
