"""REST endpoints for questionnaires and their responses (mounted under ``/api/v1``): read-only.
A response carries its answers by question key, as the results export does."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema

from huifang.api.auth import TokenAuth
from huifang.api.errors import ApiError
from huifang.api.pagination import PageQuery, answer, page
from huifang.api.schemas import READ_REFUSALS, ErrorOut, Moment, inline

from .models import Response, Survey

router = Router(tags=["questionnaires"])
KEY = Path(..., min_length=1, max_length=80, pattern=r"^[-a-zA-Z0-9_]+$")
SurveyStatus = Annotated[Survey.Status, inline(Survey.Status)]


class QuestionnaireOut(Schema):
    key: str
    name: str
    status: SurveyStatus
    version: int | None = Field(..., description="The number of the version sent out.")
    created_at: datetime
    updated_at: datetime


class QuestionnaireDetailOut(QuestionnaireOut):
    document: dict[str, Any] | None = Field(..., description="The questions of that version.")


class QuestionnairePage(Schema):
    items: list[QuestionnaireOut]
    next_cursor: str | None


class ResponseOut(Schema):
    id: int
    questionnaire: str
    version: int
    customer_id: int | None
    customer_external_id: str | None
    channel: str
    task_id: int | None
    message_id: int | None
    started_at: datetime
    submitted_at: datetime | None
    answers: dict[str, Any] = Field(..., description="Answers by question key.")
    csat: int | None
    nps: int | None
    ces: int | None


class ResponsePage(Schema):
    items: list[ResponseOut]
    next_cursor: str | None


class ResponseFilters(Schema):
    questionnaire: str | None = Field(None, max_length=80, description="A questionnaire's key.")
    customer: str | None = Field(None, max_length=128, description="A customer's external id.")
    submitted: bool | None = Field(
        None, description="true: submitted only; false: started and not submitted."
    )
    submitted_after: Moment | None = None
    submitted_before: Moment | None = None


def _out(survey: Survey) -> dict[str, Any]:
    current = survey.current_version
    return {
        "key": survey.key,
        "name": survey.name,
        "status": survey.status,
        "version": current.number if current else None,
        "created_at": survey.created_at,
        "updated_at": survey.updated_at,
    }


@router.get(
    "/questionnaires",
    auth=TokenAuth("survey", "view"),
    response={200: QuestionnairePage, **READ_REFUSALS},
    summary="List questionnaires, newest first",
)
def list_questionnaires(
    request: HttpRequest,
    paging: Query[PageQuery],
    status: SurveyStatus | None = None,
) -> dict[str, Any]:
    surveys = Survey.objects.select_related("current_version")
    if status is not None:
        surveys = surveys.filter(status=status.value)
    rows, cursor = page(surveys, paging)
    return answer([_out(s) for s in rows], cursor)


@router.get(
    "/questionnaires/{key}",
    auth=TokenAuth("survey", "view"),
    response={200: QuestionnaireDetailOut, 404: ErrorOut, **READ_REFUSALS},
    summary="Read a questionnaire with the questions of the version sent out",
)
def get_questionnaire(request: HttpRequest, key: str = KEY) -> dict[str, Any]:
    survey = Survey.objects.select_related("current_version").filter(key=key).first()
    if survey is None:
        raise ApiError(
            404, "unknown_questionnaire", _("There is no questionnaire “%(key)s”.") % {"key": key}
        )
    current = survey.current_version
    return {**_out(survey), "document": current.content if current else None}


def _responses() -> QuerySet[Response]:
    return Response.objects.select_related("version__survey", "customer")


@router.get(
    "/responses",
    auth=TokenAuth("survey", "view"),
    response={200: ResponsePage, **READ_REFUSALS},
    summary="List questionnaire responses with their answers, newest first",
)
def list_responses(
    request: HttpRequest, filters: Query[ResponseFilters], paging: Query[PageQuery]
) -> dict[str, Any]:
    lookups = {
        "version__survey__key": filters.questionnaire,
        "customer__external_id": filters.customer,
        "submitted_at__isnull": None if filters.submitted is None else not filters.submitted,
        "submitted_at__gte": filters.submitted_after,
        "submitted_at__lt": filters.submitted_before,
    }
    found = _responses().filter(**{k: v for k, v in lookups.items() if v is not None})
    rows, cursor = page(found, paging)
    return answer(
        [
            {
                **{f: getattr(r, f) for f in ResponseOut.model_fields if hasattr(r, f)},
                "questionnaire": r.version.survey.key,
                "version": r.version.number,
                "customer_external_id": r.customer.external_id if r.customer else None,
            }
            for r in rows
        ],
        cursor,
    )
