""" "Why this task" in words: the event that caused a rule's task with its properties in words,
the earlier call of a remediation, who opened a manual task and why — never codes such as
``event:12``, ``recurring:…``, step ids or raw property keys."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from huifang.accounts.models import Team
from huifang.customers.models import Customer
from huifang.tasks.models import Task
from huifang.tasks.outcomes import Report, record
from huifang.tasks.services import create_tasks
from huifang.tasks.why import why
from tests.engine.world import World

from .helpers import local, open_one

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

START = local("2026-11-02 10:00")
RULE = {
    "key": "after-purchase",
    "name": "购买后回访",
    "trigger": {"kind": "event", "event": "purchase", "delay": {"days": 3}},
    "steps": [
        {"id": "first", "wait": {"hours": 1}},
        {"id": "call", "task": {"title": "电话回访"}},
    ],
}


def test_a_rule_task_names_the_event_and_its_properties(service_team: Team, bob: Any) -> None:
    world = World(START)
    world.rule(RULE)
    customer = world.customer("王芳")
    world.event(customer, "purchase", product="空气净化器", amount=1299, order_id="A-1")
    world.travel(timedelta(days=4))
    task = Task.objects.get(customer=customer)
    said = why(task)
    assert said.headline == (
        "Purchase on 2026-11-02 10:00: the rule “购买后回访” asks for this call."
    )
    text = " | ".join(said.details)
    assert "Product: 空气净化器" in text and "Order no.: A-1" in text
    assert "Amount: ¥1,299.00" in text
    assert "The rule calls 3 days after it." in text
    assert "购买后回访 · step 2 of 2 · version 1" in text
    for code in ("event:", "order_id", " call ", "first", "{"):
        assert code not in said.headline + text


def test_a_complaint_task_says_the_complaint_s_reason(service_team: Team, bob: Any) -> None:
    world = World(START)
    world.rule(
        {
            "key": "complaint-call",
            "name": "投诉回访",
            "trigger": {"kind": "event", "event": "complaint"},
            "steps": [{"id": "call", "task": {"title": "投诉回访"}}],
        }
    )
    customer = world.customer("李雷")
    world.event(customer, "complaint", reason="物流慢，包装破损")
    world.travel(timedelta(hours=1))
    said = why(Task.objects.get(customer=customer))
    assert said.headline.startswith("Complaint on ")
    assert "Reason: 物流慢，包装破损" in said.details[0]
    assert "complaint" not in said.headline


def test_a_remediation_says_the_low_score_and_links_the_call(
    service_team: Team, bob: Any, customer: Customer
) -> None:
    first = open_one(customer, service_team, now=START, title="回访 王小明")
    recorded = record(
        first, Report(outcome="reached", score=2, notes="安装师傅迟到两小时"), actor=bob, now=START
    )
    (remedy,) = recorded.opened
    said = why(remedy)
    assert said.headline == "The customer gave 2 out of 5 on an earlier call: put it right."
    assert said.details == ["The agent wrote: 安装师傅迟到两小时"]
    assert said.link == ("回访 王小明", f"/tasks/{first.pk}/")


def test_a_manual_task_says_who_opened_it_and_why(
    service_team: Team, carol: Any, customer: Customer
) -> None:
    (task,) = create_tasks(
        [customer], title="回访", actor=carol, team=service_team, now=START, reason="来电投诉物流慢"
    )
    said = why(task)
    assert said.headline.startswith("Opened by hand by Carol on 2026-11-02")
    assert said.details == ["来电投诉物流慢"]


def test_a_task_without_rule_or_person_shows_its_reason(
    service_team: Team, customer: Customer
) -> None:
    task = open_one(customer, service_team, now=START, reason="VIP 客户每月关怀")
    assert why(task).headline == "VIP 客户每月关怀"
    bare = open_one(customer, service_team, now=START)
    assert why(bare).headline.startswith("Opened without a rule")


def test_the_page_shows_it(bob_client: Client, service_team: Team, bob: Any) -> None:
    world = World(START)
    world.rule(RULE)
    customer = world.customer("王芳")
    world.event(customer, "purchase", product="空气净化器", amount=1299, order_id="A-1")
    world.travel(timedelta(days=4))
    task = Task.objects.get(customer=customer)
    Task.objects.filter(pk=task.pk).update(assignee=bob)
    page = bob_client.get(f"/tasks/{task.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    why_card = page[page.index('id="why"') : page.index('id="why"') + 1500]
    assert "规则「购买后回访」" in why_card and "产品：空气净化器" in why_card
    assert "event:" not in why_card and "order_id" not in why_card
