"""Workers assigning at the same moment on PostgreSQL: each reads the team's pool under the
team row's lock, so together they never push an agent past the daily capacity and no task is
lost between them. (SQLite has one writer at a time, so there is nothing to race there.)"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from huifang.accounts.models import Team
from huifang.tasks.assignment import assign
from huifang.tasks.models import Task, TaskEvent
from huifang.tasks.services import create_tasks
from tests.concurrency import needs_postgres, side_by_side

from .helpers import a_customer, agent, local

pytestmark = needs_postgres

NOW = local("2026-11-02 10:00")
WORKERS, PER_WORKER, CAPACITY = 4, 10, 12


def a_team_of_three(strategy: str) -> tuple[Team, list[Any]]:
    team = Team.objects.create(key="service", name="客服一组", assign_strategy=strategy)
    return team, [agent(name, team, daily_capacity=CAPACITY) for name in ("bob", "dave", "erin")]


def assert_nobody_past_capacity(team: Team, people: list[Any]) -> None:
    tasks = Task.objects.filter(team=team)
    assert tasks.count() == WORKERS * PER_WORKER
    given = Counter(tasks.exclude(assignee=None).values_list("assignee__username", flat=True))
    assert set(given) <= {p.username for p in people}
    assert max(given.values()) <= CAPACITY
    # Forty tasks, room for thirty-six: everyone is filled up exactly and four wait.
    assert given == {"bob": CAPACITY, "dave": CAPACITY, "erin": CAPACITY}
    waiting = tasks.filter(assignee=None)
    assert waiting.count() == WORKERS * PER_WORKER - 3 * CAPACITY
    # Every task has had exactly one decision, and the waiting ones say why they wait.
    decisions = Counter(
        TaskEvent.objects.filter(task__team=team, kind=TaskEvent.Kind.ASSIGNED).values_list(
            "task_id", flat=True
        )
    )
    assert set(decisions.values()) == {1}
    assert len(decisions) == WORKERS * PER_WORKER
    notes = TaskEvent.objects.filter(task__in=waiting, kind=TaskEvent.Kind.ASSIGNED)
    assert {e.data["note"] for e in notes} <= {
        "everyone in the team is on leave or at capacity",
        "团队成员都在休假或已满额",
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("strategy", ["least_loaded", "round_robin"])
def test_four_workers_assigning_saved_tasks_never_pass_anyones_capacity(strategy: str) -> None:
    team, people = a_team_of_three(strategy)
    tasks = [
        Task.objects.create(customer=a_customer(), team=team, title="回访", created_at=NOW)
        for _n in range(WORKERS * PER_WORKER)
    ]
    side_by_side(lambda n: assign(tasks[n::WORKERS], now=NOW), WORKERS)
    assert_nobody_past_capacity(team, people)


@pytest.mark.django_db(transaction=True)
def test_four_workers_opening_tasks_at_once_never_pass_anyones_capacity() -> None:
    team, people = a_team_of_three("least_loaded")
    batches = [[a_customer() for _n in range(PER_WORKER)] for _w in range(WORKERS)]
    side_by_side(
        lambda n: create_tasks(batches[n], title="回访", actor=None, team=team, now=NOW), WORKERS
    )
    assert_nobody_past_capacity(team, people)
