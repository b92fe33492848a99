"""Who may see and change which tasks: team scoping.

- an administrator: every task;
- a supervisor: the tasks of the teams they supervise or belong to, and their own;
- an agent: the tasks of their team and the tasks given to them;
- an analyst: every task, read only.

Anyone else asking for a task gets 403, and nothing is written.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404

from huifang.accounts.models import Team
from huifang.accounts.permissions import can
from huifang.accounts.roles import Role, has_role
from huifang.customers.models import Customer
from huifang.organisation.services import current as organisation

from .models import Task


def team_ids(user: Any) -> set[int]:
    """The teams whose queue ``user`` works in or watches."""
    cached = getattr(user, "_huifang_task_teams", None)
    if cached is not None:
        return set(cached)
    teams: set[int] = set()
    profile = getattr(user, "staff_profile", None)
    if profile is not None and profile.team_id is not None:
        teams.add(profile.team_id)
    if has_role(user, Role.SUPERVISOR):
        teams |= set(Team.objects.filter(supervisor=user).values_list("id", flat=True))
    user._huifang_task_teams = teams
    return teams


def sees_all(user: Any) -> bool:
    return has_role(user, Role.ADMIN, Role.ANALYST)


def visible(user: Any) -> QuerySet[Task]:
    tasks = Task.objects.all()
    if sees_all(user):
        return tasks
    return tasks.filter(Q(team_id__in=team_ids(user)) | Q(assignee=user))


def can_change(user: Any, task: Task) -> bool:
    if has_role(user, Role.ADMIN):
        return True
    if not can(user, "task", "work"):
        return False
    return task.assignee_id == user.pk or (
        task.team_id is not None and task.team_id in team_ids(user)
    )


def can_supervise(user: Any, team_id: int | None) -> bool:
    if has_role(user, Role.ADMIN):
        return True
    return can(user, "task", "assign") and team_id is not None and team_id in team_ids(user)


def supervised_teams(user: Any) -> QuerySet[Team]:
    if has_role(user, Role.ADMIN):
        return Team.objects.all()
    if not can(user, "task", "assign"):
        return Team.objects.none()
    return Team.objects.filter(pk__in=team_ids(user))


def task_for(user: Any, pk: int, *, change: bool = False, queryset: Any = None) -> Task:
    """The task, or 404 when there is none and 403 when it is another team's."""
    task = get_object_or_404(queryset if queryset is not None else Task.objects.all(), pk=pk)
    allowed = can_change(user, task) if change else (sees_all(user) or can_change(user, task))
    if not allowed:
        raise PermissionDenied
    return task


def customer_scope(user: Any, customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """The customers ``user`` may see (``huifang.customers.visibility``): all of them, unless
    the organisation scopes customers to teams; then, for agents and supervisors, those owned by
    a member of their teams, those with a task of their teams, and those with a task given to
    them. Administrators and analysts see every customer."""
    if sees_all(user) or not organisation().team_scoped_customers:
        return customers
    teams = team_ids(user)
    tasks = Task.objects.filter(customer_id=OuterRef("pk")).filter(
        Q(team_id__in=teams) | Q(assignee_id=user.pk)
    )
    return customers.filter(
        Q(owner_id=user.pk) | Q(owner__staff_profile__team_id__in=teams) | Exists(tasks)
    )
