"""Task scripts (talking points that agents and supervisors write) are bounded: a length limit
and a nesting limit when saved, each with a clear error, and a task page that holds a script
from before the limits still answers 200, showing it as plain text with the reason (issue 17)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from huifang.accounts.models import Team
from huifang.customers.models import Customer
from huifang.messaging.rendering import MAX_SCRIPT_CHARS
from huifang.rules.document import RuleError, parse_rule
from huifang.tasks.models import Task
from huifang.tasks.services import create_tasks

pytestmark = pytest.mark.django_db

NESTED = "您好 {{ " + "(" * 500 + "客户姓名" + ")" * 500 + " }}"
BOMB = "{{ 客户姓名" + ("|replace('', '" + "x" * 100 + "')") * 4 + " }}"
EN: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "en"}


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def task(bob: Any, carol: Any, service_team: Team, customer: Customer) -> Task:
    return create_tasks(
        [customer],
        title="回访",
        script="先问候{{客户姓名}}，再确认使用情况。",
        actor=carol,
        team=service_team,
        assignee=bob,
    )[0]


def test_a_megabyte_script_is_refused_in_a_bulk_create_and_nothing_is_written(
    carol: Any, service_team: Team
) -> None:
    Customer.objects.bulk_create(Customer(name=f"杭州客户{i}", city="杭州市") for i in range(8))
    form = {
        "title": "回访",
        "script": "话" * 1_000_000,
        "priority": "normal",
        "team": service_team.pk,
    }
    response = client_for(carol).post(reverse("tasks:new") + "?city=杭州市", form, **EN)
    assert response.status_code == 400
    assert f"at most {MAX_SCRIPT_CHARS}" in response.content.decode().replace(",", "")
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("script", "says"),
    [
        ("话" * (MAX_SCRIPT_CHARS + 1), "at most 5,000 characters"),
        (NESTED, "nested at most 10 deep"),
        (BOMB, "longer than 20,000 characters"),
    ],
)
def test_the_service_refuses_a_script_naming_the_limit(
    carol: Any, service_team: Team, customer: Customer, script: str, says: str
) -> None:
    with translation.override("en"), pytest.raises(ValidationError) as error:
        create_tasks([customer], title="回访", script=script, actor=carol, team=service_team)
    assert says in str(error.value.message_dict["script"])
    assert not Task.objects.exists()


def test_a_task_page_holding_an_old_nested_script_answers_200(bob: Any, task: Task) -> None:
    Task.objects.filter(pk=task.pk).update(script=NESTED)  # saved before the limits
    for user in (bob,):
        response = client_for(user).get(reverse("tasks:detail", args=[task.pk]), **EN)
        assert response.status_code == 200
        page = response.content.decode()
        assert "((((((((((" in page  # shown as written, as plain text
        assert "nested at most 10 deep" in page


def test_a_task_page_holding_an_old_bomb_or_huge_script_answers_quickly(
    bob: Any, task: Task
) -> None:
    for script, says in ((BOMB, "longer than 20,000"), ("话" * 1_000_000, "longer than 5,000")):
        Task.objects.filter(pk=task.pk).update(script=script)
        started = time.perf_counter()
        response = client_for(bob).get(reverse("tasks:detail", args=[task.pk]), **EN)
        assert response.status_code == 200
        assert time.perf_counter() - started < 2
        page = response.content.decode()
        assert says in page
        assert len(page) < 200_000


def test_a_good_script_still_renders_with_the_customers_name(bob: Any, task: Task) -> None:
    page = client_for(bob).get(reverse("tasks:detail", args=[task.pk])).content.decode()
    assert "先问候王小明，再确认使用情况。" in page


def rule_with_script(script: str) -> dict[str, Any]:
    return {
        "key": "call-back",
        "name": "电话回访",
        "trigger": {"kind": "event", "event": "purchase"},
        "steps": [{"id": "call", "task": {"title": "回访", "script": script}}],
    }


@pytest.mark.parametrize(
    ("script", "says"),
    [
        (NESTED, "nested at most 10 deep"),
        ("话" * (MAX_SCRIPT_CHARS + 1), "at most 5000 characters"),
        ("{% if 客户姓名 %}没有结束", "Line 1"),
    ],
)
def test_a_rules_task_script_is_refused_when_saved(script: str, says: str) -> None:
    with translation.override("en"), pytest.raises(RuleError) as error:
        parse_rule(rule_with_script(script))
    assert error.value.field == "steps.0.task.script"
    assert says in error.value.message
    parse_rule(rule_with_script("先致歉，再确认{{客户姓名}}的诉求。"))
