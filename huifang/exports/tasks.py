"""Follow-up tasks as CSV or Excel (xlsx): the tasks a list shows, with its filters, among the
tasks the user may see (``huifang.tasks.access``).

- From *My follow-ups* (``tab=overdue|today|upcoming|done``): the user's own tasks of that tab.
- From the team board (``team=<id>`` with the board's status, assignee, flag, priority and
  search): the queue of a team the user supervises, as the board filters it.
- Otherwise (the command line, or ``status=all``): every task the user may see, narrowed by
  the same board filters.

The customer's phone is masked, and the customer's phone and e-mail are masked where an agent
typed them into the notes, unless the caller asks for them in full for someone who may reveal.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from huifang.core.exports import pages
from huifang.core.limits import small_id
from huifang.customers import pii
from huifang.customers.models import Customer
from huifang.messaging.log import redact
from huifang.organisation.zones import organisation_zone
from huifang.tasks import access
from huifang.tasks.board import filtered
from huifang.tasks.models import Task
from huifang.tasks.views import TABS, tab_tasks

NAME = "tasks"
OBJECT_TYPE = "tasks.task"
FILTERS = ("tab", "team", "status", "assignee", "flag", "priority", "q")

COLUMNS = (
    "pk",
    "title",
    "kind",
    "status",
    "priority",
    "customer__external_id",
    "customer__name",
    "customer__phone",
    "customer__email",
    "team__name",
    "assignee__username",
    "assignee__staff_profile__display_name",
    "rule__name",
    "step",
    "due_at",
    "created_at",
    "closed_at",
    "outcome",
    "score",
    "attempts",
    "escalation_level",
    "notes",
    "tags",
)


def sheet() -> str:
    return _("Follow-up tasks")


def found(user: Any, params: Mapping[str, str], now: datetime) -> tuple[QuerySet[Task], str]:
    """The tasks the list ``params`` describe, among those ``user`` may see, and the filters
    as a query string (for the audit log). 403 for a team the user does not supervise."""
    tab = params.get("tab", "")
    if tab in TABS:
        tasks, _order = tab_tasks(user, tab, now)
    else:
        tasks = Task.objects.all()
        team = params.get("team", "")
        if team:
            pk = small_id(team)
            if pk is None or not access.supervised_teams(user).filter(pk=pk).exists():
                raise PermissionDenied
            tasks = tasks.filter(team_id=pk)
        tasks, _shown = filtered(tasks, params, now)
    if not access.sees_all(user):  # an agent's and a supervisor's teams, and their own tasks
        tasks = tasks.filter(pk__in=access.visible(user).values("pk"))
    asked = {key: params[key] for key in FILTERS if params.get(key)}
    return tasks, urlencode(asked)


def header() -> list[str]:
    return [
        _("Task number"),
        _("Title"),
        _("Kind"),
        _("Status"),
        _("Priority"),
        _("Customer number"),
        _("Customer name"),
        _("Phone"),
        _("Team"),
        _("Assignee"),
        _("Rule"),
        _("Step"),
        _("SLA due at"),
        _("Created"),
        _("Closed"),
        _("Outcome"),
        _("Satisfaction score"),
        _("Attempts"),
        _("Escalation level"),
        _("Notes"),
        _("Tags"),
    ]


def lines_of(tasks: QuerySet[Task], *, reveal: bool) -> Iterator[list[Any]]:
    """The header, then one line per task of ``tasks`` in the order they were created."""
    yield header()
    zone = organisation_zone()
    labels = {
        name: {k: str(v) for k, v in choices}
        for name, choices in (
            ("kind", Task.Kind.choices),
            ("status", Task.Status.choices),
            ("priority", Task.Priority.choices),
            ("outcome", Task.Outcome.choices),
        )
    }

    def moment(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""

    for page in pages(tasks.values_list(*COLUMNS)):
        for row in page:
            (pk, title, kind, status, priority, number, name, phone, email) = row[:9]
            (team, username, display, rule, step, due, created, closed) = row[9:17]
            (outcome, score, attempts, level, notes, tags) = row[17:]
            if notes and not reveal:
                notes = redact(notes, Customer(phone=phone or "", email=email or ""))
            yield [
                pk,
                title,
                labels["kind"].get(kind, kind),
                labels["status"].get(status, status),
                labels["priority"].get(priority, priority),
                number or "",
                name or "",
                (phone or "") if reveal else pii.mask("phone", phone or ""),
                team or "",
                display or username or "",
                rule or "",
                step,
                moment(due),
                moment(created),
                moment(closed),
                labels["outcome"].get(outcome, outcome),
                score if score is not None else "",
                attempts,
                level,
                notes,
                "、".join(str(t) for t in tags) if isinstance(tags, list) else "",
            ]
