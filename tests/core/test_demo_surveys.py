"""``huifang demo``'s questionnaire answers: each demo ``survey_answered`` event is a submitted
response of the ready questionnaire it names, with the event's score, answers that follow the
document's jumps, links sent around it, and a results page with real figures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from huifang.accounts.roles import Role
from huifang.analytics.rollup import refresh
from huifang.customers import derived
from huifang.customers.models import Customer, Event
from huifang.demo.generator import generate
from huifang.demo.surveys import QUESTIONNAIRES, answer_demo_surveys
from huifang.messaging.models import Message
from huifang.rules.models import Rule
from huifang.studio.survey_figures import overall, read_filters
from huifang.surveys.answering import path
from huifang.surveys.document import SurveyDocument
from huifang.surveys.models import Answer, Response, Survey
from tests.conftest import make_staff, rows_for_many_tests

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
SEED = 4


def quiet(_line: str) -> None:
    pass


@pytest.fixture(scope="module")
def demo(django_db_setup: None, django_db_blocker: Any) -> Iterator[Any]:
    with rows_for_many_tests(django_db_blocker):
        yield generate(customers=450, seed=SEED, now=NOW, log=quiet, parallel=False)


def _events() -> list[Event]:
    return list(Event.objects.filter(type="survey_answered").order_by("id"))


def _submitted() -> list[Response]:
    return list(
        Response.objects.filter(submitted_at__isnull=False).select_related("version__survey")
    )


pytestmark = pytest.mark.django_db


def test_each_answer_event_is_a_submitted_response_with_its_score(demo: Any) -> None:
    events = _events()
    by_moment: dict[tuple[Any, Any], Event] = {(e.customer_id, e.occurred_at): e for e in events}
    responses = _submitted()
    assert len(responses) == len(events)  # every one: the sample bound is far above 450
    keys = {r.version.survey.key for r in responses}
    assert keys == set(QUESTIONNAIRES.values())
    for response in responses:
        event = by_moment[(response.customer_id, response.submitted_at)]
        assert QUESTIONNAIRES[event.properties["survey"]] == response.version.survey.key
        assert response.submitted_at is not None and response.started_at < response.submitted_at
        if event.nps is not None:
            assert (response.nps, response.csat) == (event.nps, None)
            assert response.answers["nps"] == event.nps
        else:  # 购后满意度 and 诊后回访: the CSAT question
            assert (response.csat, response.nps) == (event.score, None)
            if response.version.survey.key == "clinic-recovery-check":
                assert response.answers["satisfaction"] == event.score


def test_every_answered_path_follows_the_jumps(demo: Any) -> None:
    rows: dict[int, dict[str, Any]] = {}
    for answer in Answer.objects.all():
        rows.setdefault(answer.response_id, {})[answer.question] = answer.value
    unhappy_texts = 0
    for response in _submitted():
        doc = SurveyDocument.model_validate(response.version.content)
        walked = path(doc, response.answers)
        assert set(response.answers) <= set(walked), response.answers
        required = {q.id for q in doc.questions if q.required}
        assert required & set(walked) <= set(response.answers)
        assert rows[response.pk] == response.answers  # the Answer rows say the same
        if response.version.survey.key == "quarterly-nps":
            assert ("promoter" in walked) == (response.nps is not None and response.nps >= 9)
            assert ("detractor" in walked) == (response.nps is not None and response.nps <= 6)
        if response.version.survey.key == "purchase-satisfaction":
            assert ("why_low" in walked) == (response.csat is not None and response.csat <= 3)
            unhappy_texts += (
                response.csat is not None and response.csat <= 2 and ("comment" in response.answers)
            )
    assert unhappy_texts  # unhappy customers say what went wrong


def test_links_were_sent_before_and_most_were_not_answered(demo: Any) -> None:
    rule = Rule.objects.get(key="quarterly-nps-survey")
    for response in Response.objects.exclude(channel="phone"):
        assert response.message_id is not None
        message = Message.objects.get(pk=response.message_id)
        assert message.customer_id == response.customer_id
        assert message.survey_version_id == response.version_id
        assert message.sent_at is not None and message.sent_at <= response.started_at
    assert not Response.objects.filter(channel="phone", message_id__isnull=False).exists()
    nps = Response.objects.filter(version__survey__key="quarterly-nps")
    assert set(nps.values_list("rule_id", flat=True)) == {rule.pk}
    for key in QUESTIONNAIRES.values():
        sent = Message.objects.filter(survey_version__survey__key=key).count()
        linked = Response.objects.filter(
            version__survey__key=key, submitted_at__isnull=False, message_id__isnull=False
        ).count()
        assert 0.25 <= linked / sent <= 0.5, key
    opened_only = Response.objects.filter(submitted_at__isnull=True)
    assert opened_only.exists() and not Answer.objects.filter(response__in=opened_only).exists()
    channels = dict(Response.objects.values_list("channel").annotate(n=Count("id")))
    assert channels["sms"] > channels["phone"] > 0 and channels["email"] > 0


def test_responses_carry_the_owners_team(demo: Any) -> None:
    for response in Response.objects.select_related("customer__owner__staff_profile")[:200]:
        owner = response.customer.owner if response.customer else None
        # As ``surveys.links.team_of`` files a real response: under the owner's team only, so a
        # supervisor's answered never exceeds the links sent to their team's customers.
        expected = owner.staff_profile.team_id if owner is not None else None
        assert response.team_id == expected


def test_the_step_adds_no_event_and_changes_no_figure(demo: Any) -> None:
    events = Event.objects.count()
    figures = list(Customer.objects.order_by("id").values("id", *derived.FIGURES))
    before = Response.objects.count()
    answer_demo_surveys(SEED, NOW)  # once more, inside this test's rolled-back transaction
    assert Response.objects.count() == 2 * before
    assert Event.objects.count() == events == demo.events
    assert list(Customer.objects.order_by("id").values("id", *derived.FIGURES)) == figures
    derived.refresh({f["id"]: f for f in figures}, now=NOW)
    assert list(Customer.objects.order_by("id").values("id", *derived.FIGURES)) == figures


def test_the_nps_results_page_shows_the_events_nps(demo: Any) -> None:
    survey = Survey.objects.get(key="quarterly-nps")
    with time_machine.travel(NOW, tick=False):
        refresh(NOW)  # the worker's minute: the results' scores read the daily rollups
        filters = read_filters(survey, {"period": "90d"}, NOW)
        scores = [
            int(e.nps or 0)
            for e in Event.objects.filter(
                nps__isnull=False,
                occurred_at__gte=filters.period.start,
                occurred_at__lt=filters.period.end,
            )
        ]
        assert len(scores) >= 5
        promoters = sum(s >= 9 for s in scores)
        detractors = sum(s <= 6 for s in scores)
        assert overall(filters).nps == pytest.approx(100 * (promoters - detractors) / len(scores))
        client = Client()
        client.force_login(make_staff("ana", Role.ANALYST))
        page = client.get(reverse("rules:survey_results", args=[survey.key]), {"period": "90d"})
    assert page.status_code == 200
    html = page.content.decode()
    for figure in ("fig-nps", "fig-sent", "fig-opened", "fig-answered"):
        shown = re.search(rf'id="{figure}">([^<]*)<', html)
        assert shown and shown.group(1).strip() not in ("", "—", "0"), figure
