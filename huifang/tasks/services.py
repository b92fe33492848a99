"""Opening, assigning, reassigning and closing follow-up tasks: one plain function per side
effect (STYLE.md example 8). Outcomes are in ``outcomes.py``, reminders in ``reminders.py``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.accounts.models import Team
from huifang.accounts.working_hours import default_sla_hours
from huifang.core import rows
from huifang.customers.models import Customer
from huifang.messaging.rendering import MAX_SCRIPT_CHARS, TemplateError, validate
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.services import current as organisation
from huifang.organisation.zones import organisation_zone
from huifang.rules.document import Duration
from huifang.surveys.models import Survey, SurveyVersion

from . import changes, reminders
from .assignment import OPEN, assign
from .models import Task, TaskEvent
from .sla import WorkingTime

BULK_LIMIT = 5000  # customers in one "create tasks for this list"


def working_time(team: Team | None, calendar: BusinessCalendar) -> WorkingTime:
    """The team's working time; without a team, the organisation's working days and hours
    (Mon–Fri 09:00–18:00 unless an admin set others) in the site's zone."""
    if team is None:
        return WorkingTime.of(organisation().working_hours, organisation_zone(), calendar)
    return WorkingTime.of(team.working_hours, team.time_zone, calendar)


def sla_of(team: Team | None, priority: str) -> timedelta:
    table = team.sla_hours if team is not None and team.sla_hours else default_sla_hours()
    hours = table.get(priority) or default_sla_hours()[priority]
    return timedelta(hours=float(hours))


def sla_duration(duration: Duration) -> timedelta:
    """A rule step's SLA as working time: hours and days count as hours of work ("72 h
    must-reach"), business days as whole working days of the team's window (9 h for
    09:00–18:00)."""
    hours = (duration.minutes or 0) / 60 + (duration.hours or 0) + 24 * (duration.days or 0)
    return timedelta(hours=hours) + (duration.business_days or 0) * WORKING_DAY


WORKING_DAY = timedelta(hours=9)


@dataclass
class Opening:
    """A task about to be opened, with what only its creator knows: its SLA (working time)
    and its strategy's options."""

    task: Task
    sla: timedelta | None = None
    options: Mapping[str, Any] | None = None


def open_tasks(
    openings: Sequence[Opening],
    *,
    now: datetime,
    actor: Any = None,
    calendar: BusinessCalendar | None = None,
    saved: bool = False,
) -> list[Task]:
    """Save new tasks with their SLA deadline in their team's working time, assign them, and
    plan their reminders. ``saved``: the rows exist already (the engine wrote them)."""
    if not openings:
        return []
    calendar = calendar or BusinessCalendar.load()
    teams = Team.objects.in_bulk({o.task.team_id for o in openings if o.task.team_id})
    for opening in openings:
        task = opening.task
        team = teams.get(task.team_id) if task.team_id else None
        if task.due_at is None:
            sla = opening.sla if opening.sla is not None else sla_of(team, task.priority)
            task.due_at = working_time(team, calendar).add(task.created_at, sla)
    tasks = [o.task for o in openings]
    with transaction.atomic():
        if saved:
            stamp = timezone.now()  # as every update of a task says when it happened
            for task in tasks:
                task.updated_at = stamp
            rows.write(tasks, ["due_at", "team", "updated_at"])
        else:
            Task.objects.bulk_create(tasks, batch_size=500)
        TaskEvent.objects.bulk_create(
            [
                TaskEvent(task=t, kind=TaskEvent.Kind.CREATED, at=t.created_at, actor=actor)
                for t in tasks
            ],
            batch_size=500,
        )
        changes.happened(changes.CREATED, tasks, now)
        waiting = [t for t in tasks if t.assignee_id is None]
        for t in tasks:
            if t.assignee_id is not None and t.assigned_at is None:
                t.assigned_at = now
        given = [t for t in tasks if t.assignee_id is not None]
        if given:
            stamp = timezone.now()
            for task in given:
                task.updated_at = stamp
            rows.write(given, ["assigned_at", "updated_at"])
            TaskEvent.objects.bulk_create(
                [
                    TaskEvent(
                        task=t,
                        kind=TaskEvent.Kind.ASSIGNED,
                        at=now,
                        actor=actor,
                        data={"to": t.assignee_id, "note": _("chosen by hand")},
                    )
                    for t in given
                ]
            )
            changes.happened(changes.ASSIGNED, given, now)
        assign(
            waiting,
            now=now,
            actor=actor,
            options={id(o.task): o.options for o in openings if o.options},
        )
        reminders.plan(tasks, now=now, calendar=calendar)
    return tasks


def survey_version_for(key: str | None) -> SurveyVersion | None:
    """The version a task names for its phone questionnaire, from a rule step's ``survey: KEY``:
    the questionnaire's current version while it is active; ``None`` without a key, or when the
    questionnaire is not active (the task is opened without one rather than not at all).
    The engine sets ``Task.survey_version`` from it when it opens a step's task."""
    if not key:
        return None
    survey = (
        Survey.objects.select_related("current_version")
        .filter(key=key, status=Survey.Status.ACTIVE)
        .first()
    )
    return survey.current_version if survey is not None else None


def check_script(script: str) -> None:
    """Raise ``ValidationError`` on ``script`` unless it can be a task's script: at most
    ``MAX_SCRIPT_CHARS`` long, and a template of the message templates' language (it is
    rendered like one on the task page)."""
    if len(script) > MAX_SCRIPT_CHARS:
        raise ValidationError(
            {
                "script": _("A script may be at most %(limit)s characters long.")
                % {"limit": f"{MAX_SCRIPT_CHARS:,}"}
            }
        )
    try:
        validate(script, max_chars=MAX_SCRIPT_CHARS)
    except TemplateError as exc:
        raise ValidationError({"script": str(exc)}) from None


def create_tasks(
    customers: Sequence[Customer] | QuerySet[Customer],
    *,
    title: str,
    actor: Any,
    team: Team | None,
    now: datetime | None = None,
    script: str = "",
    priority: str = Task.Priority.NORMAL,
    due_at: datetime | None = None,
    assignee: Any = None,
    strategy: str = "",
    survey_version: SurveyVersion | None = None,
    reason: str = "",
) -> list[Task]:
    """Tasks by hand, for one customer or every customer of a filtered list; with
    ``survey_version``, the questionnaire the agent fills in during the call; ``reason`` is
    why, for the agent (``why.py``)."""
    now = now or timezone.now()
    if script:
        check_script(script)
    chosen = list(customers[: BULK_LIMIT + 1])
    if len(chosen) > BULK_LIMIT:
        raise ValidationError(
            _("That list has more than %(limit)s customers; narrow it down first.")
            % {"limit": BULK_LIMIT}
        )
    openings = [
        Opening(
            Task(
                customer=customer,
                title=title.replace("{{客户姓名}}", customer.name)[:200],
                reason=reason.strip()[:300],
                script=script,
                survey_version=survey_version,
                priority=priority,
                team=team,
                due_at=due_at,
                assignee=assignee,
                assign_strategy=strategy,
                created_by=actor,
                created_at=now,
            )
        )
        for customer in chosen
    ]
    return open_tasks(openings, now=now, actor=actor)


def reassign(
    tasks: Iterable[Task], *, to: Any, reason: str, actor: Any, now: datetime | None = None
) -> int:
    """Give open tasks to another agent (or back to the team queue with ``to=None``), with the
    reason kept in each task's history; returns how many changed hands."""
    now = now or timezone.now()
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the tasks change hands.")})
    moved = [t for t in tasks if not t.is_closed and t.assignee_id != (to.pk if to else None)]
    with transaction.atomic():
        for task in moved:
            before = task.assignee_id
            task.assignee = to
            task.assigned_at = now if to is not None else None
            TaskEvent.objects.create(
                task=task,
                kind=TaskEvent.Kind.REASSIGNED,
                at=now,
                actor=actor,
                data={"from": before, "to": to.pk if to else None, "reason": reason[:500]},
            )
        Task.objects.bulk_update(moved, ["assignee", "assigned_at"])
        reminders.replan(moved, now=now, announce=True)
        changes.happened(changes.ASSIGNED, [t for t in moved if t.assignee_id is not None], now)
    return len(moved)


def open_counts(user_ids: Sequence[int]) -> dict[int, int]:
    """Open tasks per assignee, in one query (the staff pages show them)."""
    rows = (
        Task.objects.filter(assignee_id__in=list(user_ids), status__in=OPEN)
        .values_list("assignee_id")
        .annotate(n=Count("pk"))
    )
    return {int(user_id): int(n) for user_id, n in rows}


def hand_on(user: Any, *, actor: Any, reason: str, now: datetime | None = None) -> int:
    """Give the open tasks of ``user`` (on leave, switched off) to their teams: each goes back
    to its team's queue and is assigned again by its strategy, which passes over people on
    leave; what nobody can take waits in the queue. Returns how many changed hands."""
    now = now or timezone.now()
    mine = list(Task.objects.filter(assignee=user, status__in=OPEN).select_related("customer"))
    with transaction.atomic():
        moved = reassign(mine, to=None, reason=reason, actor=actor, now=now)
        for task in mine:
            task.assignee = None
        assign(mine, now=now, actor=actor)
    return moved


def cancel(task: Task, *, actor: Any, reason: str, now: datetime | None = None) -> None:
    if task.is_closed:
        return
    now = now or timezone.now()
    with transaction.atomic():
        task.status, task.closed_at = Task.Status.CANCELLED, now
        task.save(update_fields=["status", "closed_at", "updated_at"])
        TaskEvent.objects.create(
            task=task,
            kind=TaskEvent.Kind.CANCELLED,
            at=now,
            actor=actor,
            data={"reason": reason[:500]},
        )
        reminders.replan([task], now=now)


def set_leave(profile: Any, *, on_leave: bool, until: Any = None) -> None:
    """Pause or resume an agent's intake: on leave, no strategy gives them new tasks."""
    profile.on_leave = on_leave
    profile.leave_until = until if on_leave else None
    profile.save(update_fields=["on_leave", "leave_until", "updated_at"])
