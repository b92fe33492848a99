"""Organisation settings: the defaults page and the holiday calendar (admins only)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huifang.accounts.permissions import requires
from huifang.organisation.models import CalendarDay

from . import calendar, services
from .forms import CapFormSet, ImportForm, OrganisationForm, cap_initial

admin_only = requires("organisation", "manage")


def _today() -> date:
    return timezone.localdate()


def _warnings(today: date) -> list[calendar.Coverage]:
    """This year and next, when the calendar does not know their official schedule."""
    return [c for c in calendar.coverage([today.year, today.year + 1]) if not c.covered]


@admin_only
def settings_page(request: HttpRequest) -> HttpResponse:
    row = services.settings_row()
    if request.method == "POST":
        form = OrganisationForm(request.POST, instance=row)
        caps = CapFormSet(request.POST, prefix="caps")
        if form.is_valid() and caps.is_valid():
            data = form.cleaned_data
            services.save_settings(
                quiet_start=data["quiet_start"],
                quiet_end=data["quiet_end"],
                working_days=data["working_days"],
                working_start=data["working_start"],
                working_end=data["working_end"],
                caps=caps.caps(),
                sms_signature=data["sms_signature"],
                team_scoped_customers=data["team_scoped_customers"],
                name=data["name"],
                actor=request.user,
            )
            messages.success(request, _("Organisation settings saved."))
            return redirect("organisation:settings")
    else:
        form = OrganisationForm(instance=row)
        caps = CapFormSet(prefix="caps", initial=cap_initial(row.caps))
    today = _today()
    context: dict[str, Any] = {
        "form": form,
        "caps": caps,
        "stored": not row._state.adding,
        "env_quiet_hours": settings.HUIFANG_QUIET_HOURS,
        "time_zone": settings.TIME_ZONE,
        "warnings": _warnings(today),
        "years": calendar.coverage(range(today.year - 1, today.year + 3)),
        "this_year": today.year,
    }
    return render(request, "organisation/settings.html", context)


def _year(request: HttpRequest) -> int:
    raw = request.GET.get("year") or request.POST.get("year") or ""
    if not raw:
        return _today().year
    try:
        year = int(raw)
    except ValueError:
        raise Http404 from None
    if not calendar.FIRST_YEAR <= year <= calendar.LAST_YEAR:
        raise Http404
    return year


def _calendar_context(year: int, import_form: ImportForm) -> dict[str, Any]:
    today = _today()
    (this,) = calendar.coverage([year])
    marked = CalendarDay.objects.filter(date__year=year).count()
    warnings = _warnings(today)
    return {
        "year": year,
        "previous_year": year - 1 if year > calendar.FIRST_YEAR else None,
        "next_year": year + 1 if year < calendar.LAST_YEAR else None,
        "months": calendar.year_grid(year),
        "coverage": this,
        "marked": marked,
        "warnings": warnings,
        "warning_years": [w.year for w in warnings],
        "this_year": today.year,
        "today": today,
        "weekdays": [WEEKDAYS_ABBR[n] for n in range(7)],
        "import_form": import_form,
        "toggle_url": reverse("organisation:toggle_day"),
    }


@admin_only
def calendar_page(request: HttpRequest) -> HttpResponse:
    year = _year(request)
    return render(
        request, "organisation/calendar.html", _calendar_context(year, ImportForm(prefix="import"))
    )


@admin_only
@require_POST
def toggle_day(request: HttpRequest) -> HttpResponse:
    try:
        day = date.fromisoformat(request.POST.get("date", ""))
    except ValueError:
        return HttpResponse(_("Not a date."), status=400)
    if not calendar.FIRST_YEAR <= day.year <= calendar.LAST_YEAR:
        return HttpResponse(_("Not a date."), status=400)
    cell = calendar.toggle_day(day, name=request.POST.get("name", ""), actor=request.user)
    if request.headers.get("HX-Request"):
        context = {"cell": cell, "today": _today(), "toggle_url": request.path}
        return render(request, "organisation/_day.html", context)
    return redirect(f"{reverse('organisation:calendar')}?year={day.year}")


@admin_only
@require_POST
def import_calendar(request: HttpRequest) -> HttpResponse:
    year = _year(request)
    form = ImportForm(request.POST, request.FILES, prefix="import")
    if form.is_valid():
        try:
            result = calendar.import_schedule(
                form.schedule, official=form.cleaned_data["official"], actor=request.user
            )
        except ValidationError as exc:
            form.add_error("file" if form.cleaned_data.get("file") else "text", exc)
            form.style(form.errors)
        else:
            messages.success(
                request,
                _("Imported %(count)d days (%(created)d new, %(updated)d changed) for %(years)s.")
                % {
                    "count": result.created + result.updated,
                    "created": result.created,
                    "updated": result.updated,
                    "years": ", ".join(str(y) for y in result.years),
                },
            )
            shown = year if year in result.years else result.years[0]
            return redirect(f"{reverse('organisation:calendar')}?year={shown}")
    return render(request, "organisation/calendar.html", _calendar_context(year, form))


@admin_only
@require_POST
def confirm_year(request: HttpRequest) -> HttpResponse:
    year = _year(request)
    calendar.confirm_year(year, actor=request.user)
    messages.success(request, _("%(year)d is marked as entered by hand.") % {"year": year})
    return redirect(f"{reverse('organisation:calendar')}?year={year}")
