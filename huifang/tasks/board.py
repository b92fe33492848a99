"""The supervisor's board: the team's queue, each agent's workload, escalations, bulk
reassignment, pausing an agent's intake; and tasks created by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huifang.accounts.models import StaffProfile, Team
from huifang.accounts.permissions import can, requires
from huifang.core.limits import small_id
from huifang.core.pagination import seek
from huifang.customers.models import Customer
from huifang.customers.search import CustomerFilters

from . import access, services
from .assignment import OPEN
from .forms import LeaveForm, NewTaskForm, ReassignForm
from .models import Task

PAGE_SIZE = 50
ON_TIME_WINDOW = timedelta(days=30)
FLAGS = ("overdue", "escalated", "unassigned")

supervisors = requires("task", "assign")


def _team(request: HttpRequest) -> tuple[Team, Any]:
    teams = access.supervised_teams(request.user)
    wanted = request.GET.get("team") or request.POST.get("team")
    pk = small_id(wanted)
    team = teams.filter(pk=pk).first() if pk else teams.first()
    if team is None:
        raise PermissionDenied
    return team, teams


def workload(team: Team, now: Any) -> list[dict[str, Any]]:
    """Per agent of the team: open, overdue, done today, on-time rate (30 days) — one query
    for the figures, one for the people."""
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    since = now - ON_TIME_WINDOW
    members = list(
        StaffProfile.objects.filter(team=team, user__is_active=True)
        .select_related("user")
        .order_by("display_name", "user__username")
    )
    open_ = Q(status__in=OPEN)
    done = Q(status=Task.Status.DONE, closed_at__gte=since)
    rows = {
        row["assignee_id"]: row
        for row in Task.objects.filter(assignee_id__in=[m.user_id for m in members])
        .filter(open_ | done)
        .values("assignee_id")
        .annotate(
            open=Count("pk", filter=open_),
            overdue=Count("pk", filter=open_ & Q(due_at__lt=now)),
            done_today=Count("pk", filter=done & Q(closed_at__gte=start)),
            done_recent=Count("pk", filter=done & Q(due_at__isnull=False)),
            on_time=Count("pk", filter=done & Q(closed_at__lte=F("due_at"))),
        )
    }
    result = []
    for member in members:
        row: Any = rows.get(member.user_id, {})
        recent = row.get("done_recent", 0)
        result.append(
            {
                "profile": member,
                "open": row.get("open", 0),
                "overdue": row.get("overdue", 0),
                "done_today": row.get("done_today", 0),
                "on_time": round(100 * row.get("on_time", 0) / recent) if recent else None,
                "on_leave": member.on_leave
                and (member.leave_until is None or member.leave_until >= start.date()),
                "leave_form": LeaveForm(
                    initial={"on_leave": member.on_leave, "until": member.leave_until}
                ),
            }
        )
    return result


def filtered(tasks: QuerySet[Task], params: Any, now: Any) -> tuple[QuerySet[Task], dict[str, str]]:
    """``tasks`` narrowed by the queue's filters in ``params`` (status — open by default —,
    assignee, flag, priority, search), and the filters as read: the board shows them, its
    export (``huifang.exports``) applies the same."""
    filters = {key: params.get(key, "") for key in ("status", "assignee", "flag", "priority", "q")}
    status = filters["status"] or "open"
    if status == "open":
        tasks = tasks.filter(status__in=OPEN)
    elif status in Task.Status.values:
        tasks = tasks.filter(status=status)
    if filters["assignee"] == "none":
        tasks = tasks.filter(assignee__isnull=True)
    elif filters["assignee"].isdigit():
        tasks = tasks.filter(assignee_id=small_id(filters["assignee"]) or 0)
    if filters["flag"] == "overdue":
        tasks = tasks.filter(status__in=OPEN, due_at__lt=now)
    elif filters["flag"] == "escalated":
        tasks = tasks.filter(escalated_at__isnull=False)
    elif filters["flag"] == "unassigned":
        tasks = tasks.filter(assignee__isnull=True)
    if filters["priority"] in Task.Priority.values:
        tasks = tasks.filter(priority=filters["priority"])
    if filters["q"]:
        tasks = tasks.filter(Q(title__icontains=filters["q"]) | Q(customer__name=filters["q"]))
    filters["status"] = status
    return tasks, filters


def _queue(request: HttpRequest, team: Team, now: Any) -> tuple[Any, dict[str, str]]:
    queue = Task.objects.filter(team=team).select_related("customer", "assignee__staff_profile")
    tasks, filters = filtered(queue, request.GET, now)
    return seek(tasks, order="due_at", size=PAGE_SIZE, after=request.GET.get("after")), filters


@supervisors
def board(request: HttpRequest) -> HttpResponse:
    team, teams = _team(request)
    now = timezone.now()
    page, filters = _queue(request, team, now)
    context = {
        "team": team,
        "teams": teams,
        "workload": workload(team, now),
        "escalations": Task.objects.filter(team=team, status__in=OPEN, escalated_at__isnull=False)
        .select_related("customer", "assignee__staff_profile")
        .order_by("-escalated_at")[:20],
        "page": page,
        "filters": filters,
        "statuses": [("open", _("Open or in progress")), *Task.Status.choices],
        "priorities": Task.Priority.choices,
        "flags": [
            ("overdue", _("Overdue")),
            ("escalated", _("Escalated")),
            ("unassigned", _("Unassigned")),
        ],
        "reassign_form": ReassignForm(team_ids={team.pk}),
        "now": now,
        "can_export": can(request.user, "task", "export"),
        "can_reveal": can(request.user, "customer", "reveal"),
        # The export of what the queue shows (``huifang.exports``): this team, these filters.
        "export_query": urlencode(
            {"team": str(team.pk), **{k: v for k, v in filters.items() if v}}
        ),
    }
    return render(request, "tasks/board.html", context)


@supervisors
@require_POST
def bulk_reassign(request: HttpRequest) -> HttpResponse:
    team, _teams = _team(request)
    form = ReassignForm(request.POST, team_ids={team.pk})
    ids = [pk for v in request.POST.getlist("task") if (pk := small_id(v))]
    back = f"{reverse('tasks:board')}?team={team.pk}"
    if not ids:
        messages.error(request, _("Tick the tasks to reassign first."))
        return redirect(back)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return redirect(back)
    tasks = list(Task.objects.filter(pk__in=ids, team=team))
    if len(tasks) != len(set(ids)):
        raise PermissionDenied  # a task of another team: nothing is changed
    moved = services.reassign(
        tasks, to=form.cleaned_data["to"], reason=form.cleaned_data["reason"], actor=request.user
    )
    messages.success(request, _("%(count)s tasks changed hands.") % {"count": moved})
    return redirect(back)


@supervisors
@require_POST
def set_leave(request: HttpRequest, user_id: int) -> HttpResponse:
    profile = get_object_or_404(StaffProfile.objects.select_related("user"), user_id=user_id)
    if not access.can_supervise(request.user, profile.team_id):
        raise PermissionDenied
    form = LeaveForm(request.POST)
    if form.is_valid():
        on_leave = form.cleaned_data["on_leave"]
        services.set_leave(profile, on_leave=on_leave, until=form.cleaned_data["until"])
        text = (
            _("%(name)s takes no new tasks for now.")
            if on_leave
            else _("%(name)s takes new tasks again.")
        )
        messages.success(request, text % {"name": profile.name})
    return redirect(f"{reverse('tasks:board')}?team={profile.team_id}")


@requires("task", "assign")
@require_POST
def hand_on(request: HttpRequest, user_id: int) -> HttpResponse:
    """Give the open tasks of someone on leave or switched off to their team (the board, for
    supervisors of their team; the staff page, for administrators)."""
    profile = get_object_or_404(StaffProfile.objects.select_related("user"), user_id=user_id)
    if not (
        can(request.user, "staff", "manage")
        or (
            can(request.user, "task", "assign")
            and access.can_supervise(request.user, profile.team_id)
        )
    ):
        raise PermissionDenied
    moved = services.hand_on(
        profile.user,
        actor=request.user,
        reason=_("%(name)s is away: their open tasks go to the team") % {"name": profile.name},
    )
    messages.success(request, _("%(count)s tasks changed hands.") % {"count": moved})
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect(f"{reverse('tasks:board')}?team={profile.team_id}")


@requires("task", "create")
def new_task(request: HttpRequest) -> HttpResponse:
    """One customer (``?customer=<id>``) or every customer of a filtered customer list."""
    teams = (
        Team.objects.all()
        if access.sees_all(request.user)
        else Team.objects.filter(pk__in=access.team_ids(request.user))
    )
    customers, single = _customers(request)
    form = NewTaskForm(request.POST or None, teams=teams, initial={"team": teams.first()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = services.create_tasks(
                customers,
                title=data["title"],
                script=data["script"],
                reason=data["reason"],
                priority=data["priority"],
                team=data["team"],
                assignee=data["assignee"],
                due_at=data["due_at"],
                strategy=data["strategy"],
                actor=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("%(count)s tasks created.") % {"count": len(created)})
            if len(created) == 1:
                return redirect("tasks:detail", created[0].pk)
            return redirect(f"{reverse('tasks:board')}?team={data['team'].pk}")
    count = customers.count()
    return render(
        request,
        "tasks/new.html",
        {
            "form": form,
            "count": count,
            "single": single,
            "too_many": count > services.BULK_LIMIT,
            "limit": services.BULK_LIMIT,
            "query": request.GET.urlencode(),
        },
        status=400 if request.method == "POST" else 200,
    )


def _customers(request: HttpRequest) -> tuple[Any, Customer | None]:
    if request.GET.get("customer", "").isdigit():
        found = Customer.objects.filter(pk=small_id(request.GET["customer"]) or 0)
        return found, found.first()
    filters = CustomerFilters.from_query(request.GET.dict())
    if not filters.active:
        return Customer.objects.none(), None
    return filters.apply(Customer.objects.all()).order_by("pk"), None
