"""The workspace pages over HTTP: what an agent and a supervisor can see and do, and what
another team's agent cannot (403, nothing written)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.customers.models import Customer, Event
from huifang.tasks.models import Task, TaskEvent
from huifang.tasks.services import create_tasks
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales_team(db: None) -> Team:
    return Team.objects.create(key="sales", name="销售组")


@pytest.fixture
def dave(sales_team: Team) -> Any:
    """An agent of the sales team."""
    return make_staff("dave", Role.AGENT, team=sales_team)


@pytest.fixture
def task(bob: Any, carol: Any, service_team: Team, customer: Customer) -> Task:
    service_team.supervisor = carol
    service_team.save()
    return create_tasks(
        [customer], title="回访 {{客户姓名}}", actor=carol, team=service_team, assignee=bob
    )[0]


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_my_followups_lists_the_agents_tasks_with_counts(bob: Any, task: Task) -> None:
    response = client_for(bob).get(reverse("tasks:mine"), {"tab": "upcoming"})
    assert response.status_code == 200
    assert "回访 王小明" in response.content.decode()
    counts = {key: count for key, _label, count in response.context["tabs"]}
    assert counts == {"overdue": 0, "today": 0, "upcoming": 1, "done": 0}


def test_the_task_page_shows_the_customer_360(bob: Any, task: Task, customer: Customer) -> None:
    Event.objects.create(
        customer=customer,
        type="purchase",
        occurred_at=task.created_at,
        amount=899,
        properties={"product": "空气净化器"},
    )
    page = client_for(bob).get(reverse("tasks:detail", args=[task.pk])).content.decode()
    assert "空气净化器" in page
    assert customer.phone_masked in page
    assert "+8613800138000" not in page  # the full number only after an audited reveal


def test_revealing_the_phone_is_audited(bob: Any, task: Task) -> None:
    response = client_for(bob).post(reverse("tasks:phone", args=[task.pk]))
    assert "tel:+8613800138000" in response.content.decode()
    revealed = TaskEvent.objects.get(task=task, kind=TaskEvent.Kind.PHONE_REVEALED)
    assert revealed.actor == bob


def test_another_teams_agent_gets_403_and_nothing_is_written(dave: Any, task: Task) -> None:
    client = client_for(dave)
    before = (TaskEvent.objects.count(), Event.objects.count())
    assert client.get(reverse("tasks:detail", args=[task.pk])).status_code == 403
    assert client.post(reverse("tasks:phone", args=[task.pk])).status_code == 403
    response = client.post(
        reverse("tasks:outcome", args=[task.pk]), {"outcome": "reached", "score": "5"}
    )
    assert response.status_code == 403
    task.refresh_from_db()
    assert task.status == Task.Status.OPEN and task.outcome == ""
    assert (TaskEvent.objects.count(), Event.objects.count()) == before
    assert "回访 王小明" not in client.get(reverse("tasks:mine")).content.decode()


def test_an_agent_cannot_reach_the_board(bob: Any) -> None:
    assert client_for(bob).get(reverse("tasks:board")).status_code == 403


def test_save_and_next_opens_the_next_task(bob: Any, carol: Any, task: Task) -> None:
    other = Customer.objects.create(name="李雷", phone="+8613900139000")
    second = create_tasks([other], title="回访 李雷", actor=carol, team=task.team, assignee=bob)[0]
    response = client_for(bob).post(
        reverse("tasks:outcome", args=[task.pk]), {"outcome": "reached", "score": "4", "next": "1"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("tasks:detail", args=[second.pk])
    task.refresh_from_db()
    assert (task.status, task.score) == (Task.Status.DONE, 4)


def test_a_bad_outcome_is_refused_in_the_users_language(bob: Any, task: Task) -> None:
    response = client_for(bob).post(
        reverse("tasks:outcome", args=[task.pk]),
        {"outcome": "call_back", "call_back_at": ""},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 400
    assert "请填写何时回电。" in response.content.decode()
    task.refresh_from_db()
    assert task.attempts == 0 and not TaskEvent.objects.filter(kind="outcome").exists()


def test_a_supervisor_bulk_reassigns_with_a_reason(carol: Any, bob: Any, task: Task) -> None:
    erin = make_staff("erin", Role.AGENT, team=task.team)
    more = create_tasks(
        [Customer.objects.create(name=f"客户{i}") for i in range(2)],
        title="回访",
        actor=carol,
        team=task.team,
        assignee=bob,
    )
    ids = [task.pk, *(t.pk for t in more)]
    response = client_for(carol).post(
        reverse("tasks:bulk_reassign"),
        {"team": task.team_id, "task": ids, "to": erin.pk, "reason": "Bob 休假"},
    )
    assert response.status_code == 302
    assert set(Task.objects.filter(pk__in=ids).values_list("assignee", flat=True)) == {erin.pk}
    reasons = TaskEvent.objects.filter(kind="reassigned").values_list("data__reason", flat=True)
    assert list(reasons) == ["Bob 休假"] * 3


def test_bulk_reassign_of_another_teams_task_changes_nothing(
    carol: Any, task: Task, dave: Any, sales_team: Team
) -> None:
    theirs = create_tasks(
        [Customer.objects.create(name="别组客户")], title="x", actor=dave, team=sales_team
    )[0]
    response = client_for(carol).post(
        reverse("tasks:bulk_reassign"),
        {"team": task.team_id, "task": [task.pk, theirs.pk], "to": "", "reason": "调整"},
    )
    assert response.status_code == 403
    assert not TaskEvent.objects.filter(kind="reassigned").exists()


def test_a_supervisor_pauses_an_agents_intake(carol: Any, bob: Any, task: Task) -> None:
    client_for(carol).post(reverse("tasks:leave", args=[bob.pk]), {"on_leave": "on"})
    bob.staff_profile.refresh_from_db()
    assert bob.staff_profile.on_leave
    page = client_for(carol).get(reverse("tasks:board")).content.decode()
    assert "恢复接单" in page


def test_tasks_by_hand_for_a_filtered_customer_list(carol: Any, service_team: Team) -> None:
    Customer.objects.bulk_create(Customer(name=f"杭州客户{i}", city="杭州市") for i in range(3))
    Customer.objects.create(name="上海客户", city="上海市")
    url = reverse("tasks:new") + "?city=杭州市"
    page = client_for(carol).get(url)
    assert page.context["count"] == 3
    response = client_for(carol).post(
        url, {"title": "回访 {{客户姓名}}", "priority": "normal", "team": service_team.pk}
    )
    assert response.status_code == 302
    assert sorted(Task.objects.values_list("title", flat=True)) == [
        f"回访 杭州客户{i}" for i in range(3)
    ]


def test_pages_cost_the_same_queries_however_many_rows(
    bob: Any, carol: Any, service_team: Team
) -> None:
    client = client_for(bob)
    counts = []
    for rows in (2, 20):
        customers = Customer.objects.bulk_create(Customer(name=f"客户{i}") for i in range(rows))
        created = create_tasks(
            customers, title="回访", actor=carol, team=service_team, assignee=bob
        )
        client.get(reverse("tasks:mine"))  # the session, the first time
        with CaptureQueriesContext(connection) as mine:
            client.get(reverse("tasks:mine"), {"tab": "upcoming"})
        with CaptureQueriesContext(connection) as detail:
            client.get(reverse("tasks:detail", args=[created[0].pk]))
        counts.append((len(mine.captured_queries), len(detail.captured_queries)))
    assert counts[0] == counts[1]


def test_a_customer_who_asked_not_to_be_contacted_is_not_called(
    bob: Any, task: Task, customer: Customer
) -> None:
    page = client_for(bob).get(reverse("tasks:detail", args=[task.pk])).content.decode()
    assert 'id="call-button"' in page and 'id="do-not-call"' not in page
    Customer.objects.filter(pk=customer.pk).update(
        do_not_contact=True, do_not_contact_reason="电话里要求"
    )
    page = client_for(bob).get(reverse("tasks:detail", args=[task.pk])).content.decode()
    assert 'id="do-not-call"' in page and "电话里要求" in page
    assert 'id="call-button"' not in page
