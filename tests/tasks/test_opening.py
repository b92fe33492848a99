"""Opening tasks: the SLA deadline in the team's working time, from the step's SLA or the
team's table by priority — across the 2026 National Day holiday and its 调休 Saturday."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from huifang.accounts.models import Team
from huifang.customers.models import Customer
from huifang.rules.document import Duration
from huifang.tasks import services
from huifang.tasks.models import Task, TaskEvent
from huifang.tasks.services import Opening, open_tasks, sla_duration, sla_of

from .helpers import a_customer, local, open_one

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

FRIDAY_BEFORE_MAKE_UP_DAY = local("2026-10-09 17:00")


def test_a_two_hour_sla_on_friday_evening_ends_on_the_make_up_saturday(
    service_team: Team, bob: Any, customer: Customer
) -> None:
    task = Task(
        customer=customer, team=service_team, title="回访", created_at=FRIDAY_BEFORE_MAKE_UP_DAY
    )
    (opened,) = open_tasks([Opening(task, sla=timedelta(hours=2))], now=FRIDAY_BEFORE_MAKE_UP_DAY)
    opened.refresh_from_db()
    # One hour on Friday, the second on Saturday 10-10, a 调休 working day.
    assert opened.due_at == local("2026-10-10 10:00")


def test_the_same_from_the_teams_sla_table(
    service_team: Team, bob: Any, customer: Customer
) -> None:
    service_team.sla_hours = {"normal": 2}
    service_team.save()
    task = open_one(customer, service_team, now=FRIDAY_BEFORE_MAKE_UP_DAY)
    assert task.due_at == local("2026-10-10 10:00")


def test_national_day_is_not_worked(service_team: Team, bob: Any, customer: Customer) -> None:
    service_team.sla_hours = {"normal": 2}
    service_team.save()
    task = open_one(customer, service_team, now=local("2026-09-30 17:00"))
    # Wednesday 1 h; 10-01 to 10-07 off; 10-08 is the first working day again.
    assert task.due_at == local("2026-10-08 10:00")


def test_the_team_sla_depends_on_the_priority(service_team: Team, bob: Any) -> None:
    service_team.sla_hours = {"urgent": 4, "normal": 16}
    service_team.save()
    monday = local("2026-11-02 10:00")
    due = {
        priority: open_one(a_customer(), service_team, now=monday, priority=priority).due_at
        for priority in ("urgent", "normal", "low")
    }
    assert due == {
        "urgent": local("2026-11-02 14:00"),
        "normal": local("2026-11-03 17:00"),  # 8 h on Monday, 8 on Tuesday
        # Not in the team's table: the default, 120 working hours.
        "low": local("2026-11-19 13:00"),
    }


def test_the_default_sla_table(service_team: Team) -> None:
    assert {p: sla_of(service_team, p) for p in ("low", "normal", "high", "urgent")} == {
        "low": timedelta(hours=120),
        "normal": timedelta(hours=72),
        "high": timedelta(hours=72),
        "urgent": timedelta(hours=24),
    }
    assert sla_of(None, "urgent") == timedelta(hours=24)


def test_a_task_without_a_team_works_office_hours(customer: Customer, bob: Any) -> None:
    task = Task(customer=customer, title="回访", created_at=FRIDAY_BEFORE_MAKE_UP_DAY, assignee=bob)
    (opened,) = open_tasks([Opening(task, sla=timedelta(hours=3))], now=FRIDAY_BEFORE_MAKE_UP_DAY)
    assert opened.due_at == local("2026-10-10 11:00")


def test_a_deadline_given_by_hand_is_kept(service_team: Team, bob: Any, customer: Customer) -> None:
    by_hand = local("2026-11-30 12:00")
    (task,) = services.create_tasks(
        [customer],
        title="回访",
        actor=bob,
        team=service_team,
        due_at=by_hand,
        now=local("2026-11-02 10:00"),
    )
    assert task.due_at == by_hand


def test_a_steps_sla_counts_hours_and_business_days_as_work() -> None:
    assert sla_duration(Duration(hours=72)) == timedelta(hours=72)
    assert sla_duration(Duration(days=2)) == timedelta(hours=48)
    assert sla_duration(Duration(minutes=90)) == timedelta(minutes=90)
    assert sla_duration(Duration(business_days=2)) == timedelta(hours=18)


def test_opening_writes_a_created_event_then_the_assignment(
    service_team: Team, bob: Any, customer: Customer
) -> None:
    task = open_one(customer, service_team, now=local("2026-11-02 10:00"))
    kinds = list(TaskEvent.objects.filter(task=task).values_list("kind", flat=True))
    assert kinds == ["created", "assigned"]


def test_a_list_too_long_for_one_batch_is_refused(service_team: Team, alice: Any) -> None:
    Customer.objects.bulk_create(
        Customer(name=f"客户{n}", external_id=f"bulk-{n}") for n in range(services.BULK_LIMIT + 1)
    )
    with pytest.raises(ValidationError, match="more than 5000 customers"):
        services.create_tasks(Customer.objects.all(), title="回访", actor=alice, team=service_team)
    assert not Task.objects.exists()
