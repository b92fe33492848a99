"""REST endpoints for follow-up tasks (mounted under ``/api/v1``): list, read, open one, record
an outcome, give it to someone else — through the same services and checks as the task pages.

A token is not a member of staff: it sees every task (as an administrator does), and what it
does is kept in the task's history without a person and in the audit log under the token's
name."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Path, Query, Router, Schema
from ninja.responses import Status

from huifang.accounts.models import Team
from huifang.api.auth import TokenAuth
from huifang.api.errors import ApiError, refused
from huifang.api.pagination import PageQuery, answer, page
from huifang.api.schemas import READ_REFUSALS, REFUSALS, ErrorOut, Moment, inline
from huifang.audit.models import Entry
from huifang.audit.services import record as audit
from huifang.core.limits import MAX_ID
from huifang.customers.models import Customer
from huifang.customers.schemas import Flag
from huifang.messaging.rendering import MAX_SCRIPT_CHARS

from . import outcomes
from .models import Task
from .services import create_tasks, reassign

router = Router(tags=["tasks"])
ID = Path(..., ge=1, le=MAX_ID)
TaskKind = Annotated[Task.Kind, inline(Task.Kind)]
TaskStatus = Annotated[Task.Status, inline(Task.Status)]
TaskPriority = Annotated[Task.Priority, inline(Task.Priority)]
TaskOutcome = Annotated[Task.Outcome, inline(Task.Outcome)]


class TaskOut(Schema):
    id: int
    title: str
    reason: str
    kind: TaskKind
    status: TaskStatus
    priority: TaskPriority
    customer_id: int
    customer_external_id: str | None
    customer_name: str
    team: str | None = Field(..., description="The team's key.")
    assignee: str | None = Field(..., description="The assignee's username.")
    rule: str | None = Field(..., description="The key of the rule that opened it.")
    step: str
    due_at: datetime | None
    created_at: datetime
    assigned_at: datetime | None
    closed_at: datetime | None
    outcome: str = Field(..., description="The last outcome recorded, or empty.")
    score: int | None
    notes: str
    tags: list[str]
    attempts: int


class TaskPage(Schema):
    items: list[TaskOut]
    next_cursor: str | None


class TaskFilters(Schema):
    status: TaskStatus | None = None
    assignee: str | None = Field(None, max_length=150, description="A username.")
    team: str | None = Field(None, max_length=50, description="A team's key.")
    rule: str | None = Field(None, max_length=100, description="A rule's key.")
    customer: str | None = Field(None, max_length=128, description="A customer's external id.")
    due_after: Moment | None = Field(None, description="Due at or after (ISO 8601).")
    due_before: Moment | None = Field(None, description="Due before (ISO 8601).")


class TaskIn(Schema):
    customer_external_id: str = Field(..., min_length=1, max_length=128)
    title: str = Field(..., min_length=1, max_length=200, pattern=r"\S")
    team: str = Field(..., min_length=1, max_length=50, description="The team's key.")
    reason: str = Field("", max_length=300, description="Why, for the agent.")
    script: str = Field("", max_length=MAX_SCRIPT_CHARS, description="Talking points.")
    priority: TaskPriority = Task.Priority.NORMAL
    assignee: str | None = Field(
        None,
        min_length=1,
        max_length=150,
        description="A username in the team; omitted: the team's assignment strategy chooses.",
    )
    due_at: Moment | None = Field(
        None, description="Omitted: the team's SLA for the priority, in working hours."
    )


class OutcomeIn(Schema):
    outcome: TaskOutcome
    score: int | None = Field(None, ge=1, le=5, description="Only for reached and call_back.")
    notes: str = Field("", max_length=5000)
    tags: list[Annotated[str, Field(min_length=1, max_length=30, pattern=r"\S")]] = Field(
        [], max_length=20
    )
    call_back_at: Moment | None = Field(None, description="Required for call_back.")
    confirmed: Flag = Field(
        False,
        description="Required true for wrong_number and refused: they withdraw consent and "
        "cancel the customer's pending messages.",
    )


class ReassignIn(Schema):
    assignee: str | None = Field(
        ...,
        max_length=150,
        description="A username in the task's team, or null for the team's queue.",
    )
    reason: str = Field(..., min_length=1, max_length=500, pattern=r"\S")


def _out(task: Task) -> dict[str, Any]:
    return {
        **{f: getattr(task, f) for f in TaskOut.model_fields if hasattr(task, f)},
        "customer_external_id": task.customer.external_id,
        "customer_name": task.customer.name,
        "team": task.team.key if task.team else None,
        "assignee": task.assignee.get_username() if task.assignee else None,
        "rule": task.rule.key if task.rule else None,
        "tags": list(task.tags or []),
    }


def _tasks() -> Any:
    return Task.objects.select_related("customer", "team", "assignee", "rule")


def _task_or_404(task_id: int) -> Task:
    task = _tasks().filter(pk=task_id).first()
    if task is None:
        raise ApiError(404, "unknown_task", _("There is no task %(id)s.") % {"id": task_id})
    return task


def _staff(username: str, team: Team | None, field: str) -> Any:
    """An active member of staff by username, in ``team`` when there is one (as the pages
    offer only them)."""
    users = get_user_model().objects.filter(
        username=username, is_active=True, staff_profile__isnull=False
    )
    if team is not None:
        users = users.filter(staff_profile__team=team)
    user = users.first()
    if user is None:
        raise ApiError(
            422,
            "unknown_assignee",
            _("“%(name)s” is not a member of staff in the task's team.") % {"name": username},
            field=field,
        )
    return user


def _audit(request: HttpRequest, verb: str, task: Task, **details: Any) -> None:
    audit(
        Entry.Action.CUSTOMER,
        verb,
        actor=request.auth,  # type: ignore[attr-defined]
        request=request,
        target=task,
        details=details,
    )


@router.get(
    "/tasks",
    auth=TokenAuth("task", "view"),
    response={200: TaskPage, **READ_REFUSALS},
    summary="List tasks, newest first, with filters",
)
def list_tasks(
    request: HttpRequest, filters: Query[TaskFilters], paging: Query[PageQuery]
) -> dict[str, Any]:
    tasks = _tasks()
    lookups = {
        "status": filters.status and filters.status.value,
        "assignee__username": filters.assignee,
        "team__key": filters.team,
        "rule__key": filters.rule,
        "customer__external_id": filters.customer,
        "due_at__gte": filters.due_after,
        "due_at__lt": filters.due_before,
    }
    tasks = tasks.filter(**{k: v for k, v in lookups.items() if v is not None})
    rows, cursor = page(tasks, paging)
    return answer([_out(t) for t in rows], cursor)


@router.get(
    "/tasks/{task_id}",
    auth=TokenAuth("task", "view"),
    response={200: TaskOut, 404: ErrorOut, **READ_REFUSALS},
    summary="Read a task",
)
def get_task(request: HttpRequest, task_id: int = ID) -> dict[str, Any]:
    return _out(_task_or_404(task_id))


@router.post(
    "/tasks",
    auth=TokenAuth("task", "create"),
    response={201: TaskOut, 404: ErrorOut, **REFUSALS},
    summary="Open a follow-up task for a customer",
)
def create_task(request: HttpRequest, payload: TaskIn) -> Status[dict[str, Any]]:
    customer = Customer.objects.filter(external_id=payload.customer_external_id).first()
    if customer is None:
        raise ApiError(
            404,
            "unknown_customer",
            _("No customer has the external id “%(value)s”.")
            % {"value": payload.customer_external_id},
            field="customer_external_id",
        )
    team = Team.objects.filter(key=payload.team).first()
    if team is None:
        raise ApiError(
            422,
            "unknown_team",
            _("There is no team “%(key)s”.") % {"key": payload.team},
            field="team",
        )
    assignee = _staff(payload.assignee, team, "assignee") if payload.assignee else None
    try:
        with transaction.atomic():
            (task,) = create_tasks(
                [customer],
                title=payload.title,
                actor=None,  # a token is not a member of staff; the audit log names it
                team=team,
                now=timezone.now(),
                script=payload.script,
                priority=str(payload.priority),
                due_at=payload.due_at,
                assignee=assignee,
                reason=payload.reason,
            )
            _audit(request, "task created", task)
    except ValidationError as exc:
        raise refused(exc) from None
    return Status(201, _out(_task_or_404(task.pk)))


@router.post(
    "/tasks/{task_id}/outcome",
    auth=TokenAuth("task", "work"),
    response={200: TaskOut, 404: ErrorOut, 409: ErrorOut, **REFUSALS},
    summary="Record the outcome of an attempt on a task",
)
def record_outcome(request: HttpRequest, payload: OutcomeIn, task_id: int = ID) -> dict[str, Any]:
    task = _task_or_404(task_id)
    if task.is_closed:
        raise ApiError(409, "task_closed", _("This task is closed already."))
    report = outcomes.Report(
        outcome=str(payload.outcome),
        score=payload.score,
        notes=payload.notes,
        tags=payload.tags,
        call_back_at=payload.call_back_at,
        confirmed=payload.confirmed,
    )
    try:
        with transaction.atomic():
            outcomes.record(task, report, actor=None)
            _audit(request, "task outcome", task, outcome=str(payload.outcome))
    except ValidationError as exc:
        raise refused(exc) from None
    return _out(_task_or_404(task.pk))


@router.post(
    "/tasks/{task_id}/reassign",
    auth=TokenAuth("task", "assign"),
    response={200: TaskOut, 404: ErrorOut, 409: ErrorOut, **REFUSALS},
    summary="Give a task to someone else in its team, or back to the team's queue",
)
def reassign_task(request: HttpRequest, payload: ReassignIn, task_id: int = ID) -> dict[str, Any]:
    task = _task_or_404(task_id)
    if task.is_closed:
        raise ApiError(409, "task_closed", _("This task is closed already."))
    to = _staff(payload.assignee, task.team, "assignee") if payload.assignee else None
    try:
        with transaction.atomic():
            reassign([task], to=to, reason=payload.reason, actor=None)
            _audit(request, "task reassigned", task, to=payload.assignee, reason=payload.reason)
    except ValidationError as exc:
        raise refused(exc) from None
    return _out(_task_or_404(task.pk))
