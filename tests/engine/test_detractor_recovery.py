"""The ready strategy detractor-recovery (PRODUCT.md §4): a questionnaire answered with NPS 0–6
or CSAT 1–2 opens a high-priority call task for the service team, due within one working day;
passives, promoters and content customers open nothing; seven days later the customer gets
the re-visit message asking whether the problem is solved."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.rules.services import LIBRARY
from huifang.tasks.models import Task
from tests.conftest import make_staff
from tests.engine.world import World, local

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    world = World(local("2026-11-02 10:00"))  # a Monday
    world.rule((LIBRARY / "detractor-recovery.yaml").read_text(encoding="utf-8"))
    return world


def test_only_detractors_open_a_call_task_for_the_service_team(world: World) -> None:
    service = Team.objects.create(key="service", name="客服一组")
    agent = make_staff("bob", Role.AGENT, team=service)
    scores: dict[str, dict[str, Any]] = {
        "nps 3": {"nps": 3},
        "nps 6": {"nps": 6},
        "csat 2": {"csat": 2},
    }
    content: dict[str, dict[str, Any]] = {
        "nps 7": {"nps": 7},
        "nps 10": {"nps": 10},
        "csat 3": {"csat": 3},
        "ces": {"ces": 2},
    }
    people = {name: world.customer(name) for name in [*scores, *content]}
    for name, properties in {**scores, **content}.items():
        world.event(people[name], "survey_answered", None, survey="quarterly-nps", **properties)
    world.run()

    tasks = Task.objects.select_related("customer").order_by("customer__name")
    assert sorted(t.customer.name for t in tasks) == sorted(scores)
    for task in tasks:
        assert (task.team, task.assignee, task.priority) == (service, agent, "high")
        assert task.title == f"低分挽回：{task.customer.name}"
        assert "问题解决回访" in task.script
        assert task.due_at == local("2026-11-03 10:00")  # one working day

    world.travel(timedelta(days=7, hours=1))
    reached = {m.customer.name for m in world.sent() if m.customer is not None}
    assert reached == set(scores)
