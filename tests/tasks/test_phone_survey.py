"""Phone surveys on the task page: the agent fills in the questionnaire the task names (or one
they pick) during the call, screen by screen with the answer page's jumps; a draft keeps what
was entered; the last screen submits once, through the answer page's path (one
``survey_answered`` event, the customer's NPS apart from CSAT). Another team's agent is refused
and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.customers.models import Channel, Customer, Event
from huifang.surveys.document import load_survey_text
from huifang.surveys.models import Response, Survey, SurveyVersion
from huifang.surveys.services import LIBRARY, save_survey
from huifang.tasks.models import Task, TaskEvent
from huifang.tasks.services import create_tasks, survey_version_for
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def ready(key: str) -> SurveyVersion:
    """A library questionnaire, saved and active (its version is the one sent out)."""
    text = (LIBRARY / f"{key}.yaml").read_text(encoding="utf-8")
    saved = save_survey(load_survey_text(text))
    Survey.objects.filter(pk=saved.survey.pk).update(
        status=Survey.Status.ACTIVE, current_version=saved.version
    )
    return saved.version


@pytest.fixture
def nps(db: None) -> SurveyVersion:
    return ready("quarterly-nps")


def a_task(customer: Customer, team: Team, by: Any, version: SurveyVersion | None) -> Task:
    return create_tasks(
        [customer],
        title="回访 {{客户姓名}}",
        script="您好{{客户姓名}}，打扰一分钟。",
        actor=by,
        team=team,
        assignee=by,
        survey_version=version,
    )[0]


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, task: Task, **data: Any) -> Any:
    return client.post(reverse("tasks:survey", args=[task.pk]), data)


def test_the_task_page_shows_the_named_questionnaire_beside_the_script(
    bob: Any, service_team: Team, customer: Customer, nps: SurveyVersion
) -> None:
    task = a_task(customer, service_team, bob, nps)
    page = client_for(bob).get(reverse("tasks:detail", args=[task.pk])).content.decode()
    assert 'id="call-panel"' in page
    assert "您好王小明，打扰一分钟。" in page
    assert "您有多大可能把我们推荐给朋友或同事？" in page
    assert "哪些方面让您不太愿意推荐我们？" not in page  # behind the jump
    assert Response.objects.count() == 0  # looking starts nothing


def test_a_detractor_answer_jumps_and_submits_once_through_the_answer_path(
    bob: Any, service_team: Team, customer: Customer, nps: SurveyVersion
) -> None:
    task = a_task(customer, service_team, bob, nps)
    client = client_for(bob)
    first = post(client, task, survey=nps.pk, q="nps", nps="4", action="next")
    assert first.status_code == 302 and "q=detractor" in first["Location"]
    page = client.get(first["Location"]).content.decode()
    assert "哪些方面让您不太愿意推荐我们？" in page and "您最喜欢我们的哪一点？" not in page

    last = post(
        client, task, q="detractor", detractor=["price"], detractor_text="太贵", action="next"
    )
    assert last.status_code == 302
    again = post(client, task, q="detractor", detractor=["speed"], action="next")
    assert again.status_code == 302  # a replay changes nothing

    response = Response.objects.get()
    assert (response.channel, response.task_id, response.team_id) == (
        Channel.PHONE,
        task.pk,
        service_team.pk,
    )
    assert response.answers == {"nps": 4, "detractor": ["price"], "detractor_text": "太贵"}
    assert (response.nps, response.csat) == (4, None)
    event = Event.objects.get(customer=customer, type="survey_answered")
    assert event.properties["nps"] == 4 and "csat" not in event.properties
    customer.refresh_from_db()
    assert (customer.last_nps, customer.last_satisfaction) == (4, None)
    taken = TaskEvent.objects.get(task=task, kind=TaskEvent.Kind.SURVEY)
    assert taken.actor == bob and taken.data["response"] == response.pk

    page = client.get(reverse("tasks:detail", args=[task.pk])).content.decode()
    assert 'id="phone-survey-answers"' in page and "价格" in page
    assert 'id="phone-survey-form"' not in page  # read-only once submitted


def test_a_draft_keeps_the_answers_even_with_required_ones_missing(
    bob: Any, service_team: Team, customer: Customer
) -> None:
    csat = ready("ticket-csat")
    task = a_task(customer, service_team, bob, csat)
    client = client_for(bob)
    # The screen holds the CSAT and whether it was solved (its jump ends the screen).
    saved = post(client, task, q="csat", csat="2", action="draft")
    assert saved.status_code == 302 and "q=csat" in saved["Location"]
    response = Response.objects.get()
    assert response.answers == {"csat": 2} and response.submitted_at is None
    assert not Event.objects.filter(type="survey_answered").exists()
    page = client.get(saved["Location"]).content.decode()
    assert 'id="csat-2" value="2" autocomplete="off" checked' in page

    refused = post(client, task, q="csat", csat="2", action="next")  # "solved" is required
    assert refused.status_code == 400
    assert "Please answer this question." in refused.content.decode() or "请回答" in (
        refused.content.decode()
    )
    assert Response.objects.get().submitted_at is None


def test_a_wrong_value_is_refused_and_nothing_is_written(
    bob: Any, service_team: Team, customer: Customer, nps: SurveyVersion
) -> None:
    task = a_task(customer, service_team, bob, nps)
    answer = post(client_for(bob), task, survey=nps.pk, q="nps", nps="11", action="next")
    assert answer.status_code == 400
    assert Response.objects.count() == 0


def test_another_teams_agent_is_refused_and_nothing_is_written(
    bob: Any, service_team: Team, customer: Customer, nps: SurveyVersion
) -> None:
    task = a_task(customer, service_team, bob, nps)
    dave = make_staff("dave", Role.AGENT, team=Team.objects.create(key="sales", name="销售组"))
    client = client_for(dave)
    assert client.get(reverse("tasks:detail", args=[task.pk])).status_code == 403
    assert post(client, task, survey=nps.pk, q="nps", nps="3").status_code == 403
    analyst = client_for(make_staff("ann", Role.ANALYST))
    assert post(analyst, task, survey=nps.pk, q="nps", nps="3").status_code == 403
    page = analyst.get(reverse("tasks:detail", args=[task.pk])).content.decode()
    assert 'id="phone-survey-none"' in page and 'id="phone-survey-form"' not in page
    assert Response.objects.count() == 0


def test_an_agent_picks_an_active_questionnaire_when_the_task_names_none(
    bob: Any, service_team: Team, customer: Customer, nps: SurveyVersion
) -> None:
    draft_only = save_survey(
        load_survey_text((LIBRARY / "course-feedback.yaml").read_text(encoding="utf-8"))
    ).version
    task = a_task(customer, service_team, bob, None)
    client = client_for(bob)
    page = client.get(reverse("tasks:detail", args=[task.pk])).content.decode()
    picker = page.split('id="phone-survey-choice"')[1].split("</select>")[0]
    assert f'<option value="{nps.pk}">' in picker
    assert f'<option value="{draft_only.pk}">' not in picker  # not active: not offered
    picked = client.get(reverse("tasks:detail", args=[task.pk]), {"survey": nps.pk})
    assert "您有多大可能把我们推荐给朋友或同事？" in picked.content.decode()
    # A questionnaire that is not offered cannot be smuggled in.
    assert post(client, task, survey=draft_only.pk, q="nps", nps="3").status_code == 302
    assert Response.objects.count() == 0
    post(client, task, survey=nps.pk, q="nps", nps="10", action="next")
    assert Response.objects.get().version == nps


def test_survey_version_for_names_the_current_version_of_an_active_questionnaire(
    nps: SurveyVersion,
) -> None:
    assert survey_version_for("quarterly-nps") == nps
    assert survey_version_for(None) is None
    assert survey_version_for("no-such-questionnaire") is None
    Survey.objects.filter(key="quarterly-nps").update(status=Survey.Status.ARCHIVED)
    assert survey_version_for("quarterly-nps") is None
