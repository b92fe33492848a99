"""Strategy-set pages: the sets, one set with what switching to it would change, its preview,
switching now, and switches scheduled for later."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from huifang.organisation.zones import organisation_zone
from huifang.rules.models import ScheduledSwitch, StrategySet
from huifang.studio.simulate import SimulationError

from .access import can_edit, editors, readers
from .sets import (
    SetError,
    SwitchPreview,
    cancel_switch,
    plan_switch,
    preview_switch,
    running_plans,
)
from .sets import schedule_switch as schedule
from .sets import switch_to as switch
from .sets_forms import PreviewForm, ScheduleForm, StrategySetForm, SwitchForm


def _local(moment: Any) -> str:
    return str(timezone.localtime(moment, organisation_zone()).strftime("%Y-%m-%d %H:%M"))


@readers
@require_GET
def set_list(request: HttpRequest) -> HttpResponse:
    sets = StrategySet.objects.annotate(n_rules=Count("rules")).order_by("-is_active", "name")
    pending = (
        ScheduledSwitch.objects.filter(status=ScheduledSwitch.Status.PENDING)
        .select_related("strategy_set", "created_by__staff_profile")
        .order_by("at", "id")
    )
    context: dict[str, Any] = {
        "sets": sets,
        "pending": [(s, _local(s.at)) for s in pending],
        "can_edit": can_edit(request.user),
        "zone": organisation_zone().key,
    }
    return render(request, "studio/sets/list.html", context)


@editors
def set_create(request: HttpRequest) -> HttpResponse:
    form = StrategySetForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        strategy_set = form.save(commit=False)
        strategy_set.created_by = request.user
        strategy_set.save()
        form.save_m2m()
        messages.success(
            request, _("Strategy set “%(name)s” created.") % {"name": strategy_set.name}
        )
        return redirect("rules:set_detail", strategy_set.key)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "strategy_set": None}
    return render(request, "studio/sets/form.html", context, status=status)


@editors
def set_edit(request: HttpRequest, key: str) -> HttpResponse:
    strategy_set = get_object_or_404(StrategySet, key=key)
    form = StrategySetForm(
        request.POST if request.method == "POST" else None, instance=strategy_set
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        if strategy_set.is_active and plan_switch(strategy_set).changes:
            messages.warning(
                request,
                _("Saved. The set is active: switch to it again for the rules to follow."),
            )
        else:
            messages.success(request, _("Saved."))
        return redirect("rules:set_detail", strategy_set.key)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "strategy_set": strategy_set}
    return render(request, "studio/sets/form.html", context, status=status)


def _detail(
    request: HttpRequest,
    strategy_set: StrategySet,
    *,
    switch_form: SwitchForm | None = None,
    schedule_form: ScheduleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    editable = can_edit(request.user)
    plan = plan_switch(strategy_set)
    switches = strategy_set.switches.select_related(
        "created_by__staff_profile", "cancelled_by__staff_profile", "superseded_by"
    ).order_by("-at", "-id")[:30]
    context: dict[str, Any] = {
        "strategy_set": strategy_set,
        "rules": strategy_set.rules.select_related("current_version").order_by("name", "key"),
        "plan": plan,
        "plans_stopping": running_plans(plan.stop),
        "switches": [
            {
                "switch": s,
                "at": _local(s.at),
                "done_at": _local(s.done_at) if s.done_at else "",
                "superseded_at": _local(s.superseded_by.at) if s.superseded_by else "",
                "pending": s.status == ScheduledSwitch.Status.PENDING,
            }
            for s in switches
        ],
        "can_edit": editable,
        "activated_at": _local(strategy_set.activated_at) if strategy_set.activated_at else "",
        "preview_form": PreviewForm(initial={"days": 14}),
        "switch_form": switch_form or (SwitchForm(prefix="switch") if editable else None),
        "schedule_form": schedule_form
        or (ScheduleForm(prefix="schedule", now=timezone.now()) if editable else None),
    }
    return render(request, "studio/sets/detail.html", context, status=status)


@readers
@require_GET
def set_detail(request: HttpRequest, key: str) -> HttpResponse:
    return _detail(request, get_object_or_404(StrategySet, key=key))


@editors
@require_GET
def set_preview(request: HttpRequest, key: str) -> HttpResponse:
    """The comparison of the next days with the rules that run now and with the set's
    (htmx fetches it into the set's page; on its own it is a page)."""
    strategy_set = get_object_or_404(StrategySet, key=key)
    form = PreviewForm(request.GET or None, initial={"days": 14})
    preview, error, status = None, "", 200
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        days = (form.cleaned_data.get("days") if form.is_bound else None) or 14
        try:
            preview = preview_switch(strategy_set, days=days, start=timezone.now())
        except SimulationError as exc:
            error, status = str(exc), 400
    template = "studio/sets/preview.html"
    if request.headers.get("HX-Request"):
        # htmx swaps only successful answers; the error is in the fragment itself.
        template, status = "studio/sets/_preview.html", 200
    context = {
        "strategy_set": strategy_set,
        "form": form,
        "preview": preview,
        "chart": _chart(preview) if preview else None,
        "error": error,
    }
    return render(request, template, context, status=status)


def _chart(preview: SwitchPreview) -> dict[str, Any]:
    """Messages per day and channel, now and after the switch, for the charts (charts.js)."""

    def series(scenario: str) -> list[dict[str, Any]]:
        return [
            {"name": label, "data": [getattr(row.messages[n], scenario) for row in preview.rows]}
            for n, (_code, label) in enumerate(preview.channels)
        ]

    return {
        "dates": [row.label[5:] for row in preview.rows],  # 06-18: the year is in the table
        "now": series("now"),
        "after": series("after"),
        "empty": _("No message in this period"),
    }


@editors
@require_POST
def set_switch(request: HttpRequest, key: str) -> HttpResponse:
    strategy_set = get_object_or_404(StrategySet, key=key)
    form = SwitchForm(request.POST, prefix="switch")
    if form.is_valid():
        try:
            done = switch(
                strategy_set,
                actor=request.user,
                comment=form.cleaned_data["comment"],
                in_flight=form.cleaned_data["in_flight"],
            )
        except SetError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(
                request,
                _("Switched to “%(name)s”: %(started)s rules started, %(stopped)s paused.")
                % {
                    "name": strategy_set.name,
                    "started": len(done.started),
                    "stopped": len(done.stopped),
                },
            )
            return redirect("rules:set_detail", strategy_set.key)
    return _detail(request, strategy_set, switch_form=form, status=400)


@editors
@require_POST
def set_schedule(request: HttpRequest, key: str) -> HttpResponse:
    strategy_set = get_object_or_404(StrategySet, key=key)
    now = timezone.now()
    form = ScheduleForm(request.POST, prefix="schedule", now=now)
    if form.is_valid():
        try:
            scheduled = schedule(
                strategy_set,
                at=form.cleaned_data["at"],
                actor=request.user,
                comment=form.cleaned_data["comment"],
                in_flight=form.cleaned_data["in_flight"],
                now=now,
            )
        except SetError as exc:
            form.add_error(exc.field, exc.message)
        else:
            messages.success(
                request,
                _("The switch to “%(name)s” is scheduled for %(at)s (%(zone)s).")
                % {
                    "name": strategy_set.name,
                    "at": _local(scheduled.at),
                    "zone": organisation_zone().key,
                },
            )
            return redirect("rules:set_detail", strategy_set.key)
    return _detail(request, strategy_set, schedule_form=form, status=400)


@editors
@require_POST
def switch_cancel(request: HttpRequest, key: str, pk: int) -> HttpResponse:
    scheduled = get_object_or_404(ScheduledSwitch, pk=pk, strategy_set__key=key)
    if cancel_switch(scheduled, actor=request.user):
        messages.success(request, _("The scheduled switch is cancelled."))
    else:
        messages.warning(request, _("That switch has already run or was cancelled."))
    if request.POST.get("back") == "list":
        return redirect("rules:sets")
    return redirect("rules:set_detail", key)
