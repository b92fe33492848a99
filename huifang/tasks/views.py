"""The agent's workspace: "My follow-ups" and the task page. Every page costs a fixed number of
queries, however many tasks an agent has or a page shows (bench/workspace.py counts them)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from huifang.accounts.permissions import can, requires
from huifang.core.pagination import seek
from huifang.customers import event_properties, pii
from huifang.customers.models import Channel, Consent, Event
from huifang.messaging.rendering import MAX_SCRIPT_CHARS, Context, TemplateError
from huifang.messaging.rendering import render as render_text

from . import access, history, outcomes, phone_survey
from .assignment import OPEN
from .forms import OutcomeForm, ReassignForm
from .models import Task, TaskEvent
from .services import reassign
from .why import why

PAGE_SIZE = 50
TABS = ("overdue", "today", "upcoming", "done")
TICKET_TYPES = ("ticket_opened", "ticket_requested", "ticket_closed", "complaint")


def _day(now: datetime) -> tuple[datetime, datetime]:
    """Today in the viewer's zone, as [start, end)."""
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def counts(user: Any, now: datetime) -> dict[str, int]:
    """The four tab counts in one query (each part answered by an index on the assignee)."""
    start, end = _day(now)
    open_ = Q(status__in=OPEN)
    done = Q(status=Task.Status.DONE, closed_at__gte=start)
    found = (
        Task.objects.filter(assignee=user)
        .filter(open_ | done)
        .aggregate(
            overdue=Count("pk", filter=open_ & Q(due_at__lt=now)),
            today=Count("pk", filter=open_ & Q(due_at__gte=now, due_at__lt=end)),
            upcoming=Count("pk", filter=open_ & Q(due_at__gte=end)),
            done=Count("pk", filter=done),
        )
    )
    return {tab: found[tab] or 0 for tab in TABS}


def tab_tasks(user: Any, tab: str, now: datetime) -> tuple[QuerySet[Task], str]:
    start, end = _day(now)
    mine = Task.objects.filter(assignee=user).select_related("customer", "rule")
    if tab == "done":
        return mine.filter(status=Task.Status.DONE, closed_at__gte=start), "-closed_at"
    mine = mine.filter(status__in=OPEN)
    if tab == "overdue":
        return mine.filter(due_at__lt=now), "due_at"
    if tab == "upcoming":
        return mine.filter(due_at__gte=end), "due_at"
    return mine.filter(due_at__gte=now, due_at__lt=end), "due_at"


@requires("task", "view")
def my_tasks(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    tally = counts(request.user, now)
    first = next((key for key in ("overdue", "today", "upcoming") if tally[key]), "today")
    tab = request.GET.get("tab") or first
    if tab not in TABS:
        tab = "today"
    queryset, order = tab_tasks(request.user, tab, now)
    page = seek(queryset, order=order, size=PAGE_SIZE, after=request.GET.get("after"))
    context = {
        "tab": tab,
        "tabs": [(key, TAB_LABELS[key], tally[key]) for key in TABS],
        "page": page,
        "now": now,
        "fresh_since": now - timedelta(minutes=10),
        "can_export": can(request.user, "task", "export"),
        "can_reveal": can(request.user, "customer", "reveal"),
    }
    template = "tasks/_my_list.html" if request.headers.get("HX-Request") else "tasks/mine.html"
    return render(request, template, context)


TAB_LABELS = {
    "overdue": gettext_lazy("Overdue"),
    "today": gettext_lazy("Today"),
    "upcoming": gettext_lazy("Upcoming"),
    "done": gettext_lazy("Done today"),
}


def _detail_queryset() -> QuerySet[Task]:
    return Task.objects.select_related(
        "customer",
        "customer__owner__staff_profile",
        "team",
        "rule",
        "enrollment__version",
        "enrollment__event",
        "rule__current_version",
        "assignee__staff_profile",
        "parent",
        "created_by",
    )


def _context(
    request: HttpRequest,
    task: Task,
    form: OutcomeForm | None = None,
    survey: phone_survey.Panel | None = None,
) -> dict[str, Any]:
    customer = task.customer
    can_change = access.can_change(request.user, task) and not task.is_closed
    if survey is None:
        survey = phone_survey.panel(
            task,
            editable=can_change,
            picked=request.GET.get("survey"),
            asked=request.GET.get("q"),
        )
    events = Event.objects.filter(customer=customer).order_by("-occurred_at", "-pk")
    tickets = list(events.filter(type__in=TICKET_TYPES)[:20])
    closed = {str(e.properties.get("ticket_id")) for e in tickets if e.type == "ticket_closed"}
    supervise = access.can_supervise(request.user, task.team_id)
    return {
        "task": task,
        "why": why(task),
        # Do-not-contact, or phone consent withdrawn: the page says so and offers no call.
        "do_not_call": _phone_withdrawn(customer) or customer.do_not_contact,
        "customer": customer,
        "tags": [t.name for t in customer.tags.all()],
        "orders": [
            (e, e.properties.get("product") or e.properties.get("order_id") or "—")
            for e in events.filter(type="purchase")[:5]
        ],
        "tickets": [
            (
                e,
                event_properties.summary(e),
                e.type != "ticket_closed" and str(e.properties.get("ticket_id")) not in closed,
            )
            for e in tickets
        ],
        "answers": events.filter(type="survey_answered")[:5],
        "previous": Task.objects.filter(customer=customer)
        .exclude(pk=task.pk)
        .select_related("assignee__staff_profile")
        .order_by("-created_at")[:10],
        "history": history.lines(
            TaskEvent.objects.filter(task=task).select_related("actor__staff_profile")[:100]
        ),
        "script": _script(task),
        "form": form or OutcomeForm(),
        "can_change": can_change,
        "survey": survey,
        "reassign_form": ReassignForm(team_ids={task.team_id} if task.team_id else set())
        if supervise and not task.is_closed
        else None,
        "overdue": task.is_overdue(timezone.now()),
        "undo_until": _undo_until(request, task),
    }


def _undo_until(request: HttpRequest, task: Task) -> datetime | None:
    """Until when the viewer can take back the task's consequential outcome, if they can."""
    if not task.is_closed or task.outcome not in outcomes.CONSEQUENTIAL:
        return None
    event = outcomes.last_outcome(task)
    deadline = outcomes.undo_deadline(task, event)
    if event is None or deadline is None or event.actor_id != request.user.pk:
        return None
    return deadline if timezone.now() <= deadline else None


def _phone_withdrawn(customer: Any) -> bool:
    """One query whatever the customer (the page's count of queries stays the same)."""
    return Consent.objects.filter(
        customer=customer, channel=Channel.PHONE, status=Consent.Status.WITHDRAWN
    ).exists()


def _script(task: Task) -> tuple[str, str]:
    """The talking points with the customer's details filled in (sandboxed, like messages).
    A script that cannot be rendered (one saved before the limits, or an agent's notes that
    became a remediation task's script) is shown as written, as plain text, with the reason."""
    if not task.script:
        return "", ""
    if len(task.script) > MAX_SCRIPT_CHARS:
        return task.script[:MAX_SCRIPT_CHARS] + "…", _(
            "This script is longer than %(limit)s characters: its beginning is shown as "
            "written, without the customer's details."
        ) % {"limit": f"{MAX_SCRIPT_CHARS:,}"}
    event = task.enrollment.event if task.enrollment_id and task.enrollment else None
    try:
        context = Context(task.customer, event, timezone.now())
        return render_text(task.script, context, max_chars=MAX_SCRIPT_CHARS), ""
    except TemplateError as exc:
        return task.script, str(exc)


@requires("task", "view")
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    task = access.task_for(request.user, pk, queryset=_detail_queryset())
    return render(request, "tasks/detail.html", _context(request, task))


@requires("task", "work")
@require_POST
def record_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    task = access.task_for(request.user, pk, change=True, queryset=_detail_queryset())
    form = OutcomeForm(request.POST)
    if form.is_valid():
        try:
            recorded = outcomes.record(task, form.report(), actor=request.user)
        except ValidationError as exc:
            _attach(form, exc)
        else:
            messages.success(request, _outcome_message(recorded))
            if recorded.task.outcome in outcomes.CONSEQUENTIAL:
                messages.warning(request, _undo_note(recorded.task))
            if request.POST.get("next"):
                following = _next_task(request.user, task)
                if following is not None:
                    return redirect("tasks:detail", following.pk)
                messages.info(request, _("That was the last open task in your queue."))
                return redirect("tasks:mine")
            return redirect("tasks:detail", task.pk)
    return render(request, "tasks/detail.html", _context(request, task, form), status=400)


@requires("task", "work")
@require_POST
def save_phone_survey(request: HttpRequest, pk: int) -> HttpResponse:
    """One screen of the phone questionnaire, filled in during the call: "Save draft" keeps it
    as it is, "Next" / "Submit" check it like the customer's answer page."""
    task = access.task_for(request.user, pk, change=True, queryset=_detail_queryset())
    if task.is_closed:
        raise PermissionDenied
    response = phone_survey.phone_response(task)
    version = phone_survey.version_for_call(task, response, request.POST.get("survey"))
    if version is None:
        messages.error(request, _("Choose a questionnaire for the call first."))
        return redirect("tasks:detail", task.pk)
    try:
        saved = phone_survey.save(
            task,
            version,
            request.POST,
            actor=request.user,
            now=timezone.now(),
            draft=request.POST.get("action") == "draft",
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("tasks:detail", task.pk)
    draft = request.POST.get("action") == "draft"
    if saved.errors:
        if draft:
            messages.warning(request, _("Draft saved, except the answers marked as wrong."))
        survey = phone_survey.panel(
            task,
            editable=True,
            picked=version.pk,
            asked=saved.next,
            data=request.POST,
            errors=saved.errors,
        )
        return render(
            request, "tasks/detail.html", _context(request, task, survey=survey), status=400
        )
    url = reverse("tasks:detail", args=[task.pk])
    if saved.submitted:
        messages.success(request, _("The questionnaire was submitted."))
        return redirect(f"{url}#phone-survey")
    if draft:
        messages.success(request, _("Draft saved."))
    query = urlencode({"survey": saved.version.pk, "q": saved.next})
    return redirect(f"{url}?{query}#phone-survey")


def _undo_note(task: Task) -> str:
    """The way back to a consequential outcome, whichever page the agent goes on to."""
    until = timezone.localtime(timezone.now() + outcomes.UNDO_WINDOW)
    return format_html(
        '{} <a href="{}#undo">{}</a>',
        _("Consent was withdrawn for “%(name)s”. Recorded by mistake? Undo it until %(until)s:")
        % {"name": task.customer.name, "until": f"{until:%H:%M}"},
        reverse("tasks:detail", args=[task.pk]),
        _("open the task to undo"),
    )


@requires("task", "work")
@require_POST
def undo_outcome(request: HttpRequest, pk: int) -> HttpResponse:
    task = access.task_for(request.user, pk, change=True, queryset=_detail_queryset())
    try:
        restored = outcomes.undo(task, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("Undone: the task is open again and consent is restored on %(count)s channels.")
            % {"count": len(restored)},
        )
    return redirect("tasks:detail", task.pk)


def _attach(form: OutcomeForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _outcome_message(recorded: outcomes.Recorded) -> str:
    text = _("Saved: %(outcome)s.") % {"outcome": recorded.task.get_outcome_display()}
    for opened in recorded.opened:
        text += " " + _("Opened “%(title)s” for %(team)s.") % {
            "title": opened.title,
            "team": opened.team.name if opened.team else _("no team"),
        }
    return text


def _next_task(user: Any, after: Task) -> Task | None:
    return (
        Task.objects.filter(assignee=user, status__in=OPEN)
        .exclude(pk=after.pk)
        .order_by("due_at", "pk")
        .only("pk")
        .first()
    )


@never_cache  # the full number: never kept by a cache or the browser
@requires("customer", "reveal")
@require_POST
def reveal_phone(request: HttpRequest, pk: int) -> HttpResponse:
    """The full number, to call: an audited read of PII (DESIGN.md invariant 9). The task is
    the reason; the reveal counts towards the user's hourly limit like any other."""
    task = access.task_for(request.user, pk, change=True, queryset=_detail_queryset())
    try:
        pii.reveal(
            task.customer,
            "phone",
            user=request.user,
            request=request,
            reason=_("Follow-up task #%(pk)s") % {"pk": task.pk},
            context=f"task {task.pk}",
        )
    except pii.RevealRefused as refused:
        response = render(request, "tasks/_phone.html", {"error": str(refused)})
        add_never_cache_headers(response)
        return response
    TaskEvent.objects.create(
        task=task,
        kind=TaskEvent.Kind.PHONE_REVEALED,
        at=timezone.now(),
        actor=request.user,  # type: ignore[misc]
        data={"customer": task.customer_id},
    )
    response = render(request, "tasks/_phone.html", {"customer": task.customer})
    add_never_cache_headers(response)
    return response


@requires("task", "assign")
@require_POST
def reassign_task(request: HttpRequest, pk: int) -> HttpResponse:
    task = access.task_for(request.user, pk, queryset=_detail_queryset())
    if not access.can_supervise(request.user, task.team_id):
        raise PermissionDenied
    form = ReassignForm(request.POST, team_ids={task.team_id} if task.team_id else set())
    if form.is_valid():
        reassign(
            [task],
            to=form.cleaned_data["to"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
        messages.success(request, _("The task changed hands."))
        return redirect("tasks:detail", task.pk)
    context = _context(request, task)
    context["reassign_form"] = form
    return render(request, "tasks/detail.html", context, status=400)
