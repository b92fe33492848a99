"""The ready strategies detractor-recovery and detractor-revisit (PRODUCT.md §4): a questionnaire
answered with NPS 0–6 or CSAT 1–2 opens a high-priority call task for the service team, due
within one working day, with the re-visit questionnaire for the call; passives, promoters and
content customers open nothing; seven days after the call reached the customer, they get a
personal link to the re-visit questionnaire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.messaging.services import load_template_library
from huifang.rules.services import LIBRARY
from huifang.surveys.models import Survey
from huifang.surveys.services import load_survey_library
from huifang.tasks.models import Task
from huifang.tasks.outcomes import Report, record
from tests.conftest import make_staff
from tests.engine.world import World, local

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> World:
    world = World(local("2026-11-02 10:00"))  # a Monday
    load_survey_library()
    load_template_library()
    for key in ("detractor-recovery", "detractor-revisit"):
        world.rule((LIBRARY / f"{key}.yaml").read_text(encoding="utf-8"))
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
    revisit = Survey.objects.get(key="revisit-check")
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
        assert task.survey_version == revisit.current_version  # filled in during the call

    # The agent reaches two of the three; the third does not answer the phone.
    called = {task.customer.name: task for task in tasks}
    world.travel(timedelta(hours=2))
    for name, outcome in (("nps 3", "reached"), ("csat 2", "reached"), ("nps 6", "not_reached")):
        score = 4 if outcome == "reached" else None
        record(called[name], Report(outcome, score=score), actor=agent, now=world.now)
    world.run()
    world.travel(timedelta(days=6, hours=20))
    assert not world.sent()  # not before seven days
    world.travel(timedelta(hours=6))
    revisits = world.sent()
    assert {m.customer.name for m in revisits if m.customer is not None} == {"nps 3", "csat 2"}
    for message in revisits:
        assert message.template == "revisit-check"
        assert message.survey_version_id == revisit.current_version_id
        assert "{{" not in message.body and "/l/" in message.body  # the personal short link
