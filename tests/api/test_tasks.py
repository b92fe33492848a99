"""The tasks API as a ticket system uses it: list and read follow-up tasks, open one, record
what happened, give it to someone else — with the task pages' rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.audit.models import Entry
from huifang.customers.models import Customer
from huifang.tasks.models import Task, TaskEvent
from tests.api.helpers import error_of, post
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db: None) -> Team:
    return Team.objects.create(key="service", name="客服一组")


@pytest.fixture
def agents(team: Team) -> list[Any]:
    return [make_staff("bob", Role.AGENT, team=team), make_staff("dora", Role.AGENT, team=team)]


@pytest.fixture
def shopper(db: None) -> Customer:
    return Customer.objects.create(external_id="C-1", name="王小明", phone="+8613800138000")


def open_task(customer: Customer, team: Team | None = None, **fields: Any) -> Task:
    return Task.objects.create(customer=customer, title="回访", team=team, **fields)


def test_it_lists_tasks_newest_first_with_filters(
    reader: Client, shopper: Customer, team: Team, agents: list[Any]
) -> None:
    other = Customer.objects.create(external_id="C-2", name="李四")
    now = timezone.now()
    first = open_task(shopper, team, assignee=agents[0], due_at=now + timedelta(hours=1))
    second = open_task(other, None, due_at=now + timedelta(days=2))
    done = open_task(shopper, team, status=Task.Status.DONE)

    every = reader.get("/api/v1/tasks").json()
    assert [t["id"] for t in every["items"]] == [done.pk, second.pk, first.pk]
    assert every["next_cursor"] is None
    assert every["items"][2]["assignee"] == "bob"
    assert every["items"][2]["team"] == "service"
    assert every["items"][2]["customer_external_id"] == "C-1"

    def ids(**query: Any) -> list[int]:
        response = reader.get("/api/v1/tasks", query)
        assert response.status_code == 200, response.content
        return [t["id"] for t in response.json()["items"]]

    assert ids(status="done") == [done.pk]
    assert ids(assignee="bob") == [first.pk]
    assert ids(team="service") == [done.pk, first.pk]
    assert ids(customer="C-2") == [second.pk]
    assert ids(due_after=(now + timedelta(days=1)).isoformat()) == [second.pk]
    assert ids(due_before=(now + timedelta(days=1)).isoformat()) == [first.pk]
    assert ids(rule="no-such-rule") == []


def test_a_filter_out_of_its_schema_is_refused(reader: Client) -> None:
    assert reader.get("/api/v1/tasks", {"status": "lost"}).status_code == 422
    assert reader.get("/api/v1/tasks", {"due_before": "0.5"}).status_code == 422
    response = reader.get("/api/v1/tasks", {"due_before": "2026-10-08T09:00:00"})
    assert response.status_code == 422  # no offset: which zone would it be?
    response = reader.get("/api/v1/tasks", {"due_before": "3026-10-08T09:00:00+08:00"})
    assert error_of(response)["code"] == "validation_error"


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(min_value=1, max_value=12), added=st.integers(min_value=0, max_value=3))
def test_the_cursor_walks_every_task_exactly_once(
    reader: Client, shopper: Customer, limit: int, added: int
) -> None:
    Task.objects.all().delete()
    tasks = [open_task(shopper) for _ in range(11)]
    seen: list[int] = []
    cursor = None
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = reader.get("/api/v1/tasks", query).json()
        seen += [t["id"] for t in body["items"]]
        # Tasks opened while the walk goes on are newer: they never shift its pages.
        for _ in range(added):
            open_task(shopper)
        added = 0
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((t.pk for t in tasks), reverse=True)


def test_a_cursor_it_did_not_give_out_is_refused(reader: Client, shopper: Customer) -> None:
    open_task(shopper)
    response = reader.get("/api/v1/tasks", {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_cursor"
    assert reader.get("/api/v1/tasks", {"limit": 0}).status_code == 422
    assert reader.get("/api/v1/tasks", {"limit": 201}).status_code == 422


def test_it_reads_one_task(reader: Client, shopper: Customer) -> None:
    task = open_task(shopper, priority=Task.Priority.HIGH)
    body = reader.get(f"/api/v1/tasks/{task.pk}").json()
    assert (body["id"], body["priority"], body["status"]) == (task.pk, "high", "open")
    assert body["customer_name"] == "王小明"
    missing = reader.get(f"/api/v1/tasks/{task.pk + 1}")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "unknown_task"


def test_it_opens_a_task_for_a_customer(
    writer: Client, shopper: Customer, team: Team, agents: list[Any]
) -> None:
    due = timezone.now() + timedelta(days=1)
    response = post(
        writer,
        "/api/v1/tasks",
        {
            "customer_external_id": "C-1",
            "title": "投诉回访 {{客户姓名}}",
            "team": "service",
            "assignee": "dora",
            "priority": "urgent",
            "due_at": due.isoformat(),
            "reason": "物流慢",
        },
    )
    assert response.status_code == 201, response.content
    task = Task.objects.get()
    assert response.json()["id"] == task.pk
    assert (task.title, task.assignee, task.team, task.priority) == (
        "投诉回访 王小明",
        agents[1],
        team,
        "urgent",
    )
    assert task.due_at == due
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.CREATED).exists()
    entry = Entry.objects.get(verb="task created")
    assert entry.actor.startswith("API token write system")
    assert entry.object_id == str(task.pk)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"customer_external_id": "C-404"}, 404, "unknown_customer"),
        ({"team": "sales"}, 422, "unknown_team"),
        ({"assignee": "carol"}, 422, "unknown_assignee"),  # not in the team
        ({"title": "   "}, 422, "validation_error"),
        ({"script": "{{ 客户姓名 "}, 422, "invalid"),
        ({"due_at": "2026-10-08T09:00:00"}, 422, "validation_error"),
    ],
)
def test_it_refuses_a_task_the_pages_would_refuse(
    writer: Client,
    shopper: Customer,
    agents: list[Any],
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    make_staff("carol", Role.AGENT, team=None)
    body = {"customer_external_id": "C-1", "title": "回访", "team": "service", **change}
    response = post(writer, "/api/v1/tasks", body)
    assert response.status_code == status, response.content
    assert error_of(response)["code"] == code
    assert not Task.objects.exists()
    assert not Entry.objects.filter(verb="task created").exists()


def test_a_read_token_may_not_change_tasks(reader: Client, shopper: Customer, team: Team) -> None:
    task = open_task(shopper, team)
    body = {"customer_external_id": "C-1", "title": "回访", "team": "service"}
    assert post(reader, "/api/v1/tasks", body).status_code == 403
    assert (
        post(reader, f"/api/v1/tasks/{task.pk}/outcome", {"outcome": "reached"}).status_code == 403
    )
    refused = post(reader, f"/api/v1/tasks/{task.pk}/reassign", {"assignee": None, "reason": "x"})
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "forbidden"
    assert Task.objects.count() == 1
    assert Client().get("/api/v1/tasks").status_code == 401


def test_it_records_an_outcome(writer: Client, shopper: Customer, team: Team) -> None:
    task = open_task(shopper, team)
    response = post(
        writer,
        f"/api/v1/tasks/{task.pk}/outcome",
        {"outcome": "reached", "score": 5, "notes": "满意", "tags": ["物流"]},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["outcome"], body["score"], body["tags"]) == (
        "done",
        "reached",
        5,
        ["物流"],
    )
    assert shopper.events.filter(type="followup_reached").exists()
    assert Entry.objects.filter(verb="task outcome", object_id=str(task.pk)).exists()
    again = post(writer, f"/api/v1/tasks/{task.pk}/outcome", {"outcome": "reached"})
    assert again.status_code == 409
    assert error_of(again)["code"] == "task_closed"


@pytest.mark.parametrize(
    ("report", "field"),
    [
        ({"outcome": "call_back"}, "call_back_at"),
        ({"outcome": "not_reached", "score": 4}, "score"),
        ({"outcome": "refused"}, "confirm"),
    ],
)
def test_an_outcome_that_does_not_hold_together_is_refused(
    writer: Client, shopper: Customer, report: dict[str, Any], field: str
) -> None:
    task = open_task(shopper)
    response = post(writer, f"/api/v1/tasks/{task.pk}/outcome", report)
    assert response.status_code == 422, response.content
    assert error_of(response)["field"] == field
    task.refresh_from_db()
    assert (task.status, task.outcome) == ("open", "")
    assert not shopper.events.exists()


def test_it_gives_a_task_to_someone_else_in_its_team(
    writer: Client, shopper: Customer, team: Team, agents: list[Any]
) -> None:
    task = open_task(shopper, team, assignee=agents[0])
    response = post(
        writer, f"/api/v1/tasks/{task.pk}/reassign", {"assignee": "dora", "reason": "bob 休假"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["assignee"] == "dora"
    moved = TaskEvent.objects.get(task=task, kind=TaskEvent.Kind.REASSIGNED)
    assert moved.data["reason"] == "bob 休假"
    back = post(writer, f"/api/v1/tasks/{task.pk}/reassign", {"assignee": None, "reason": "排队"})
    assert back.json()["assignee"] is None

    make_staff("erin", Role.AGENT)  # in no team
    refused = post(writer, f"/api/v1/tasks/{task.pk}/reassign", {"assignee": "erin", "reason": "x"})
    assert error_of(refused)["code"] == "unknown_assignee"
    blank = post(writer, f"/api/v1/tasks/{task.pk}/reassign", {"assignee": "dora", "reason": " "})
    assert blank.status_code == 422
    task.refresh_from_db()
    assert task.assignee is None
