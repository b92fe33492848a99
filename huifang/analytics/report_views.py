"""Pages of the report exports and the scheduled reports (``urls_reports``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.accounts.permissions import requires
from huifang.accounts.roles import Role, has_role
from huifang.audit.models import Entry
from huifang.audit.services import record

from .exports import TABLES, ExportError, choice, export, table_label
from .models import ReportSchedule
from .periods import PeriodError, period_from
from .scope import scope_for


@requires("report", "export")
def export_table(request: HttpRequest) -> HttpResponseBase:
    """``?table=totals|trend|<dimension>&format=csv|xlsx`` and the period's parameters."""
    try:
        key, fmt = choice(request.GET)
        period = period_from(request.GET, timezone.now())
    except (ExportError, PeriodError) as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    scope = scope_for(request.user)
    response = export(key, fmt, period, scope)
    record(
        Entry.Action.EXPORT,
        f"report {key} ({fmt})",
        request=request,
        object_type="report",
        object_id=key,
        object_repr=table_label(key),
        details={
            "table": key,
            "format": fmt,
            "period": period.as_params(),
            "scope": scope.label(),
            "teams": sorted(scope.teams),
        },
    )
    return response


def _admin(user: Any) -> bool:
    return has_role(user, Role.ADMIN)


def _mine(request: HttpRequest) -> QuerySet[ReportSchedule]:
    found = ReportSchedule.objects.select_related("recipient", "created_by")
    return found if _admin(request.user) else found.filter(created_by_id=request.user.pk)


class ScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    tables = forms.MultipleChoiceField(
        label=gettext_lazy("Tables"),
        choices=(),
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
        error_messages={"required": gettext_lazy("Choose at least one table.")},
    )

    class Meta:
        model = ReportSchedule
        fields = ["name", "recipient", "frequency", "tables", "enabled"]
        widgets = {
            "name": forms.TextInput(attrs={"class": "form-control"}),
            "recipient": forms.Select(attrs={"class": "form-select"}),
            "frequency": forms.Select(attrs={"class": "form-select"}),
            "enabled": forms.CheckboxInput(attrs={"class": "form-check-input"}),
        }

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["tables"].choices = [(key, table_label(key)) for key in TABLES]  # type: ignore[attr-defined]
        people = get_user_model().objects.filter(is_active=True).exclude(email="")
        if not _admin(user):
            people = people.filter(pk=user.pk)  # others' mail is the administrators' to set up
        recipient = self.fields["recipient"]
        recipient.queryset = people.order_by("username")  # type: ignore[attr-defined]
        recipient.help_text = _(
            "A member of staff with an e-mail address; the report holds the figures they may read."
        )
        recipient.error_messages["invalid_choice"] = _(
            "Choose a member of staff with an e-mail address."
        )

    def clean_tables(self) -> list[str]:
        chosen = self.cleaned_data["tables"]
        return [key for key in TABLES if key in chosen]  # in the page's order


@requires("report", "schedule")
def schedules(request: HttpRequest) -> HttpResponse:
    labels = {key: table_label(key) for key in TABLES}
    items = [
        {
            "schedule": s,
            "recipient": f"{s.recipient.get_username()} <{s.recipient.email}>",
            "tables": [labels.get(k, k) for k in s.tables],
        }
        for s in _mine(request)
    ]
    return render(
        request,
        "analytics/report_schedules.html",
        {"schedules": items, "everyone": _admin(request.user)},
    )


def _audit(request: HttpRequest, schedule: ReportSchedule, verb: str) -> None:
    record(
        Entry.Action.SETTINGS,
        verb,
        request=request,
        target=schedule,
        details={
            "recipient": schedule.recipient_id,
            "frequency": schedule.frequency,
            "tables": list(schedule.tables),
            "enabled": schedule.enabled,
        },
    )


def _edit(request: HttpRequest, schedule: ReportSchedule | None) -> HttpResponse:
    form = ScheduleForm(request.POST or None, instance=schedule, user=request.user)
    if request.method == "POST" and form.is_valid():
        saved = form.save(commit=False)
        if schedule is None:
            saved.created_by = request.user
            saved.created_at = timezone.now()
        saved.save()
        _audit(request, saved, "report schedule saved" if schedule else "report schedule created")
        messages.success(request, _("Scheduled report “%(name)s” saved.") % {"name": saved.name})
        return redirect("reports:schedules")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "analytics/report_schedule_form.html",
        {"form": form, "schedule": schedule},
        status=status,
    )


@requires("report", "schedule")
def schedule_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@requires("report", "schedule")
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(_mine(request), pk=pk))


@requires("report", "schedule")
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    schedule = get_object_or_404(_mine(request), pk=pk)
    _audit(request, schedule, "report schedule deleted")
    schedule.delete()
    messages.success(request, _("Scheduled report deleted."))
    return redirect("reports:schedules")
