"""Reminders and escalation: durable timers (``Reminder`` rows) fired by the worker's loop.

When a task is opened or changes hands, its timers are planned:

- *new task* — at once, to the assignee;
- *SLA ends soon* — ``team.remind_before_hours`` before the deadline;
- *overdue* — at the deadline: the task is flagged overdue and the assignee told;
- *call back* — at the time the customer asked to be called back;
- *escalation level n* — ``after_hours`` of the team's working time after the task was
  opened, if nobody has acted on it by then: the level's person (the team's supervisor, the
  supervisor's own supervisor, or a named user) is told, and takes the task over when the
  level says ``reassign``.

A timer checks at firing time that it still applies (the task may be done, or have another
assignee), and a notification never reaches someone outside their working hours: it waits for
their next working moment. Firing is one transaction per timer with a conditional update, so
two workers never fire the same timer twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections, transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from huifang.accounts.models import StaffProfile, Team
from huifang.integrations import is_dry_run
from huifang.organisation.business_calendar import BusinessCalendar

from .models import Reminder, Task, TaskEvent
from .sla import WorkingTime

logger = logging.getLogger(__name__)

BATCH = 200


def _team_time(team: Team | None, calendar: BusinessCalendar) -> WorkingTime:
    from .services import working_time

    return working_time(team, calendar)


def plan(tasks: Iterable[Task], *, now: datetime, calendar: BusinessCalendar) -> None:
    """The timers of newly opened tasks; none in a dry run (a simulation counts its tasks and
    does not run reminder timers: nobody works its tasks or is told of them)."""
    if is_dry_run():
        return
    rows: list[Reminder] = []
    for task in tasks:
        if task.is_closed:
            continue
        team = task.team if task.team_id else None
        rows.extend(_for_assignee(task, now, team, calendar))
        if team is not None and team.escalation:
            clock = _team_time(team, calendar)
            for level, step in enumerate(team.escalation, start=1):
                at = clock.add(task.created_at, timedelta(hours=float(step["after_hours"])))
                rows.append(
                    Reminder(task=task, kind=Reminder.Kind.ESCALATE, level=level, due_at=at)
                )
    Reminder.objects.bulk_create(rows, batch_size=500)


def _for_assignee(
    task: Task,
    now: datetime,
    team: Team | None,
    calendar: BusinessCalendar,
    *,
    announce: bool = True,
) -> list[Reminder]:
    """``announce``: tell the assignee the task is theirs (not when only its deadline moved)."""
    if task.assignee_id is None:
        return []
    rows = []
    if announce:
        rows.append(
            Reminder(
                task=task, kind=Reminder.Kind.ASSIGNED, due_at=now, recipient_id=task.assignee_id
            )
        )
    if task.due_at is not None:
        before = timedelta(hours=float(team.remind_before_hours if team else 2))
        warn_at = _team_time(team, calendar).back(task.due_at, before)  # in working hours
        if warn_at > now:
            rows.append(
                Reminder(
                    task=task,
                    kind=Reminder.Kind.DUE_SOON,
                    due_at=warn_at,
                    recipient_id=task.assignee_id,
                )
            )
        rows.append(
            Reminder(
                task=task,
                kind=Reminder.Kind.OVERDUE,
                due_at=max(task.due_at, now),
                recipient_id=task.assignee_id,
            )
        )
    return rows


def replan(tasks: Iterable[Task], *, now: datetime, announce: bool = False) -> None:
    """After a reassignment, a new deadline or a close: the assignee's pending timers are
    replaced (escalations stay: they count from the task's opening)."""
    tasks = list(tasks)
    if not tasks:
        return
    Reminder.objects.filter(
        task__in=tasks, status=Reminder.Status.DUE, kind__in=_ASSIGNEE_KINDS
    ).update(status=Reminder.Status.SKIPPED, done_at=now, note="replanned")
    if any(t.is_closed for t in tasks):
        Reminder.objects.filter(
            task__in=[t for t in tasks if t.is_closed], status=Reminder.Status.DUE
        ).update(status=Reminder.Status.SKIPPED, done_at=now, note="closed")
    plan_assignee([t for t in tasks if not t.is_closed], now=now, announce=announce)


_ASSIGNEE_KINDS = (
    Reminder.Kind.ASSIGNED,
    Reminder.Kind.DUE_SOON,
    Reminder.Kind.OVERDUE,
    Reminder.Kind.CALL_BACK,
)


def call_back(task: Task, at: datetime) -> None:
    if task.assignee_id is not None:
        Reminder.objects.create(
            task=task, kind=Reminder.Kind.CALL_BACK, due_at=at, recipient_id=task.assignee_id
        )


# -- firing ---------------------------------------------------------------------------------


def tick(now: datetime | None = None, *, limit: int = BATCH) -> int:
    """Fire the timers that are due; returns how many were handled (sent, skipped or
    postponed). Called every few seconds by the worker loop."""
    now = now or timezone.now()
    ids = list(
        Reminder.objects.filter(status=Reminder.Status.DUE, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", flat=True)[:limit]
    )
    calendar = BusinessCalendar.load() if ids else None
    handled = 0
    for pk in ids:
        assert calendar is not None
        with transaction.atomic():
            reminder = (
                Reminder.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, status=Reminder.Status.DUE)
                .select_related("task__team", "task__customer")
                .first()
            )
            if reminder is None:
                continue  # another worker has it
            _fire(reminder, now, calendar)
            handled += 1
    return handled


def _fire(reminder: Reminder, now: datetime, calendar: BusinessCalendar) -> None:
    task = reminder.task
    if task.is_closed:
        return _finish(reminder, now, Reminder.Status.SKIPPED, "closed")
    if reminder.kind == Reminder.Kind.ESCALATE:
        return _escalate(reminder, task, now, calendar)
    if reminder.recipient_id != task.assignee_id:
        return _finish(reminder, now, Reminder.Status.SKIPPED, "reassigned")
    if reminder.kind == Reminder.Kind.OVERDUE:
        if task.due_at is None or task.due_at > now:
            return _finish(reminder, now, Reminder.Status.SKIPPED, "rescheduled")
        if task.overdue_at is None:
            task.overdue_at = task.due_at
            Task.objects.filter(pk=task.pk).update(overdue_at=task.due_at)
            TaskEvent.objects.create(task=task, kind=TaskEvent.Kind.OVERDUE, at=task.due_at)
    recipient = _staff(task.assignee_id)
    if recipient is None:
        return _finish(reminder, now, Reminder.Status.SKIPPED, "no recipient")
    if _postpone(reminder, recipient, now, calendar):
        return None
    _tell(recipient, reminder, task)
    return _finish(reminder, now, Reminder.Status.SENT, "")


def _escalate(reminder: Reminder, task: Task, now: datetime, calendar: BusinessCalendar) -> None:
    team = task.team
    chain = team.escalation if team is not None else []
    if reminder.level > len(chain) or task.attempts > 0:
        return _finish(reminder, now, Reminder.Status.SKIPPED, "handled")
    step = chain[reminder.level - 1]
    target = escalation_target(team, str(step["to"]))
    if task.escalated_at is None or task.escalation_level < reminder.level:
        task.escalated_at, task.escalation_level = now, reminder.level
        Task.objects.filter(pk=task.pk).update(escalated_at=now, escalation_level=reminder.level)
        TaskEvent.objects.create(
            task=task,
            kind=TaskEvent.Kind.ESCALATED,
            at=now,
            data={
                "level": reminder.level,
                "to": target.pk if target else None,
                "after_hours": step["after_hours"],
            },
        )
        if step.get("reassign") and target is not None and target.pk != task.assignee_id:
            from .services import reassign

            reassign(
                [task],
                to=target,
                reason=_("Escalated: nothing done within %(hours)s working hours")
                % {"hours": step["after_hours"]},
                actor=None,
                now=now,
            )
    if target is None:
        return _finish(reminder, now, Reminder.Status.SKIPPED, "nobody to escalate to")
    reminder.recipient = target
    if _postpone(reminder, target, now, calendar):
        return None
    _tell(target, reminder, task)
    return _finish(reminder, now, Reminder.Status.SENT, "")


def escalation_target(team: Team | None, to: str) -> Any:
    if team is None:
        return None
    if to == "supervisor":
        return team.supervisor
    if to == "manager":
        if team.supervisor_id is None:
            return None
        profile = StaffProfile.objects.filter(user_id=team.supervisor_id).first()
        return profile.supervisor if profile is not None else None
    if to.startswith("user:"):
        return get_user_model().objects.filter(username=to[5:], is_active=True).first()
    return None


def _staff(user_id: int | None) -> Any:
    if user_id is None:
        return None
    return (
        get_user_model()
        .objects.filter(pk=user_id, is_active=True)
        .select_related("staff_profile")
        .first()
    )


def _postpone(reminder: Reminder, user: Any, now: datetime, calendar: BusinessCalendar) -> bool:
    """Hold the reminder until the recipient's next working moment, if they are off now."""
    profile = getattr(user, "staff_profile", None)
    if profile is None:
        return False
    clock = WorkingTime.of(profile.working_hours, profile.time_zone, calendar)
    next_moment = clock.add(now, timedelta(0))
    if next_moment <= now:
        return False
    reminder.due_at = next_moment
    reminder.save(update_fields=["due_at", "recipient"])
    return True


def _finish(reminder: Reminder, now: datetime, status: str, note: str) -> None:
    reminder.status, reminder.done_at, reminder.note = status, now, note
    reminder.save(update_fields=["status", "done_at", "note", "recipient"])
    if status == Reminder.Status.SENT:
        TaskEvent.objects.create(
            task_id=reminder.task_id,
            kind=TaskEvent.Kind.REMINDED,
            at=now,
            data={"reminder": reminder.kind, "to": reminder.recipient_id, "level": reminder.level},
        )


def _tell(user: Any, reminder: Reminder, task: Task) -> None:
    """In the recipient's language, on each of their chosen staff channels."""
    from .notifications import deliver

    with translation.override(settings.LANGUAGE_CODE):
        title, body = _text(reminder, task)
        deliver(user, title=title, body=body, url=reverse("tasks:detail", args=[task.pk]))


def _text(reminder: Reminder, task: Task) -> tuple[str, str]:
    customer = task.customer.name
    due = timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M") if task.due_at else ""
    titles = {
        Reminder.Kind.ASSIGNED: _("New follow-up: %(title)s"),
        Reminder.Kind.DUE_SOON: _("SLA ends soon: %(title)s"),
        Reminder.Kind.OVERDUE: _("Overdue: %(title)s"),
        Reminder.Kind.CALL_BACK: _("Call back now: %(title)s"),
        Reminder.Kind.ESCALATE: _("Escalated (level %(level)s): %(title)s"),
    }
    title = titles[Reminder.Kind(reminder.kind)] % {"title": task.title, "level": reminder.level}
    body = _("Customer %(customer)s · priority %(priority)s · due %(due)s") % {
        "customer": customer,
        "priority": task.get_priority_display(),
        "due": due or "—",
    }
    return title[:200], body


def loop(stop: threading.Event, clock: Any = None) -> None:
    """The worker's reminder loop: fire what is due every few seconds; then offer tasks that
    wait in a team queue (everyone was full or on leave) to the team again."""
    while not stop.is_set():
        try:
            now = clock.now() if clock is not None else timezone.now()
            tick(now)
            retry_waiting(now)
        except Exception:
            logger.exception("reminder tick failed; it runs again in a moment")
            close_old_connections()
        stop.wait(POLL_SECONDS)
    close_old_connections()


POLL_SECONDS = 5.0
RETRY_EVERY = timedelta(minutes=5)


def retry_waiting(now: datetime, *, limit: int = 500) -> int:
    """Unassigned open tasks of a team whose last try is older than ``RETRY_EVERY``: capacity
    frees up at midnight and when someone comes back from leave."""
    from .assignment import OPEN, assign

    waiting = list(
        Task.objects.filter(
            team__isnull=False,
            assignee__isnull=True,
            status__in=OPEN,
            updated_at__lt=now - RETRY_EVERY,
        )
        .select_related("team")
        .order_by("due_at")[:limit]
    )
    if not waiting:
        return 0
    assign(waiting, now=now)
    given = [t for t in waiting if t.assignee_id is not None]
    stuck = [t.pk for t in waiting if t.assignee_id is None]
    if stuck:  # try again after RETRY_EVERY, not on every tick
        Task.objects.filter(pk__in=stuck).update(updated_at=now)
    plan_assignee(given, now=now)
    return len(given)


def plan_assignee(tasks: list[Task], *, now: datetime, announce: bool = True) -> None:
    if not tasks:
        return
    teams = Team.objects.in_bulk({t.team_id for t in tasks if t.team_id})
    calendar = BusinessCalendar.load()
    rows: list[Reminder] = []
    for task in tasks:
        team = teams.get(task.team_id or 0)
        rows.extend(_for_assignee(task, now, team, calendar, announce=announce))
    Reminder.objects.bulk_create(rows)
