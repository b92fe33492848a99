"""The questionnaires API: questionnaires with their questions, and responses with their
answers, filtered and paged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from huifang.customers.models import Customer
from huifang.surveys.document import load_survey_text
from huifang.surveys.models import Response, Survey
from huifang.surveys.services import save_survey
from tests.api.helpers import error_of, walk
from tests.surveys.answering import FLOW

pytestmark = pytest.mark.django_db


def test_questionnaires_are_listed_and_read(reader: Client) -> None:
    saved = save_survey(load_survey_text(FLOW))
    Survey.objects.filter(pk=saved.survey.pk).update(
        status=Survey.Status.ACTIVE, current_version=saved.version
    )
    listed = reader.get("/api/v1/questionnaires").json()
    assert [(q["key"], q["status"], q["version"]) for q in listed["items"]] == [
        ("flow-check", "active", 1)
    ]
    assert reader.get("/api/v1/questionnaires", {"status": "draft"}).json()["items"] == []
    one = reader.get("/api/v1/questionnaires/flow-check").json()
    assert one["document"]["questions"][0]["id"] == "csat"
    missing = reader.get("/api/v1/questionnaires/nope")
    assert (missing.status_code, error_of(missing)["code"]) == (404, "unknown_questionnaire")


def test_responses_are_listed_with_their_answers_and_filters(reader: Client) -> None:
    version = save_survey(load_survey_text(FLOW)).version
    wang = Customer.objects.create(external_id="C-1", name="王小明")
    li = Customer.objects.create(external_id="C-2", name="李四")
    now = timezone.now()
    early = Response.objects.create(
        version=version,
        customer=wang,
        answers={"csat": 5},
        csat=5,
        submitted_at=now - timedelta(days=3),
    )
    late = Response.objects.create(
        version=version, customer=li, answers={"csat": 2}, csat=2, submitted_at=now
    )
    started = Response.objects.create(version=version, customer=li)

    def ids(**query: str) -> list[int]:
        response = reader.get("/api/v1/responses", query)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["items"]]

    assert ids() == [started.pk, late.pk, early.pk]
    assert ids(submitted="true") == [late.pk, early.pk]
    assert ids(submitted="false") == [started.pk]
    assert ids(customer="C-1") == [early.pk]
    assert ids(questionnaire="other") == []
    assert ids(submitted_after=(now - timedelta(days=1)).isoformat()) == [late.pk]
    assert ids(submitted_before=(now - timedelta(days=1)).isoformat()) == [early.pk]
    first = reader.get("/api/v1/responses", {"customer": "C-1"}).json()["items"][0]
    assert (first["questionnaire"], first["version"], first["answers"], first["csat"]) == (
        "flow-check",
        1,
        {"csat": 5},
        5,
    )
    assert [r["id"] for r in walk(reader, "/api/v1/responses", 2)] == ids()
