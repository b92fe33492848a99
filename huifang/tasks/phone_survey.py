"""Phone surveys (电话问卷): the agent fills in a questionnaire with the customer during the call.

The task page shows the questionnaire beside the script, screen by screen exactly as the
customer's answer page does (``huifang.surveys.answering``: the same questions, jumps and
pages, checked the same way). The questionnaire is the one the task names
(``Task.survey_version``, set from a rule step's ``survey: KEY``) or, when it names none, any
active questionnaire the agent picks for the call.

A task has at most one phone response (channel ``phone``, its ``task_id``): it is created by
the first answer saved and continued on every visit. "Save draft" keeps what was entered on the
screen, even with required questions still empty; "Next" / "Submit" check the screen like the
answer page, and the last screen submits through the same path — one ``survey_answered``
event, the customer's CSAT / NPS / CES figures — with a ``survey`` line in the task's history
naming the agent who took it. A submitted response is read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _

from huifang.customers.models import Channel
from huifang.surveys.answering import (
    answer_screen,
    arrival,
    posted_values,
    read,
    screen,
    store,
    stored_values,
)
from huifang.surveys.document import SurveyDocument
from huifang.surveys.models import Response, Survey, SurveyVersion
from huifang.surveys.views import answered, ends_after, screen_fields

from .models import Task, TaskEvent


def phone_response(task: Task) -> Response | None:
    """The task's phone response, submitted or not."""
    return (
        Response.objects.select_related("version__survey")
        .filter(task_id=task.pk, channel=Channel.PHONE)
        .order_by("pk")
        .first()
    )


def offered() -> QuerySet[SurveyVersion]:
    """What an agent may pick for a call: the current version of every active questionnaire."""
    return (
        SurveyVersion.objects.filter(
            survey__status=Survey.Status.ACTIVE, survey__current_version_id=F("pk")
        )
        .select_related("survey")
        .order_by("survey__name")
    )


def version_for_call(task: Task, response: Response | None, picked: Any) -> SurveyVersion | None:
    """The version the call answers: the started response's, else the task's, else the one the
    agent picked among ``offered`` (anything else is ignored)."""
    if response is not None:
        return response.version
    if task.survey_version_id is not None:
        return task.survey_version
    if picked in (None, ""):
        return None
    try:
        return offered().filter(pk=int(picked)).first()
    except (TypeError, ValueError):
        return None


def document(version: SurveyVersion) -> SurveyDocument:
    """The version's document: checked completely when it was saved, so only read here."""
    return SurveyDocument.model_validate(version.content)


@dataclass
class Panel:
    """What the task page shows of the phone survey."""

    version: SurveyVersion | None
    response: Response | None
    choices: list[SurveyVersion] = field(default_factory=list)  # to pick one, when none is named
    doc: SurveyDocument | None = None
    first: str = ""
    fields: list[Any] = field(default_factory=list)
    last: bool = False
    answered: list[tuple[str, str]] = field(default_factory=list)

    @property
    def submitted(self) -> bool:
        return self.response is not None and self.response.submitted_at is not None


def panel(
    task: Task,
    *,
    editable: bool,
    picked: Any = None,
    asked: str | None = None,
    data: QueryDict | None = None,
    errors: dict[str, str] | None = None,
) -> Panel | None:
    """The phone survey of the task page; ``None`` when there is nothing to show (no
    questionnaire and nobody who may start one). ``data`` and ``errors``: a screen sent back."""
    response = phone_response(task)
    version = version_for_call(task, response, picked)
    if version is None:
        if not editable:
            return None
        return Panel(None, None, choices=list(offered()))
    doc = document(version)
    shown = Panel(version, response, doc=doc)
    stored = response.answers if response is not None else {}
    if shown.submitted or not editable:
        if response is not None:
            shown.answered = answered(doc, response)
        return shown
    shown.first = arrival(doc, stored, asked)
    questions = screen(doc, shown.first)
    if data is not None:
        values = posted_values(questions, data)
    else:
        values = stored_values(questions, stored)
    shown.fields = screen_fields(questions, values, errors or {})
    shown.last = ends_after(doc, questions[-1])
    return shown


@dataclass
class Saved:
    """Where the call goes after a save: ``next`` (a screen), or done when ``submitted``;
    ``errors`` by question id when the screen comes back."""

    version: SurveyVersion
    next: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    submitted: bool = False


def save(
    task: Task,
    version: SurveyVersion,
    data: QueryDict,
    *,
    actor: Any,
    now: datetime,
    draft: bool = False,
) -> Saved:
    """Store the screen the agent sent (``q`` names its first question). A draft keeps every
    valid answer and stays on the screen; otherwise the screen must be complete, and the last
    one submits the response. Raises ``ValidationError`` for a response submitted already."""
    response = phone_response(task)
    if response is not None:
        version = response.version
        if response.submitted_at is not None:
            raise ValidationError(_("This questionnaire was submitted already."))
    doc = document(version)
    asked = data.get("q")
    first = arrival(doc, response.answers if response is not None else {}, asked)
    if first != asked:  # a screen no longer on the path (another tab): show where it is
        return Saved(version, next=first)
    answers, errors = read(screen(doc, first), data)
    if draft:
        errors = {q: e for q, e in errors.items() if q not in answers}  # wrong values only
    if errors and not draft:
        return Saved(version, next=first, errors=errors)
    with transaction.atomic():
        Task.objects.select_for_update().filter(pk=task.pk).first()  # one response per task
        response = phone_response(task) or Response.objects.create(
            version=version,
            customer_id=task.customer_id,
            channel=Channel.PHONE,
            task_id=task.pk,
            rule_id=task.rule_id,
            team_id=task.team_id,
            started_at=now,
        )
        if response.submitted_at is not None:
            raise ValidationError(_("This questionnaire was submitted already."))
        if draft:
            store(response, answers)
            return Saved(version, next=first, errors=errors)
        following = answer_screen(response, doc, answers, now=now)
        if following is not None:
            return Saved(version, next=following)
        response.refresh_from_db(fields=["submitted_at", "csat", "nps", "ces"])
        scores = {m: getattr(response, m) for m in ("csat", "nps", "ces")}
        TaskEvent.objects.create(
            task=task,
            kind=TaskEvent.Kind.SURVEY,
            at=now,
            actor=actor,
            data={
                "note": doc.name,
                "survey": version.survey.key,
                "version": version.number,
                "response": response.pk,
                **{m: v for m, v in scores.items() if v is not None},
            },
        )
    return Saved(version, submitted=True)
