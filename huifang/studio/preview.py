"""The impact preview of a rule before it is activated, and its activation.

What is previewed is the rule's latest version: a draft not yet running, or the running one
when nothing newer was saved. The page comes at once; htmx then asks for the figures
(``preview_result``): the next days simulated twice — the version alone, and with every other
active rule — each inside a transaction that is rolled back, so nothing changes. A worker
simulates (``tasks.compute_preview``, queued when the version is saved or when no fresh
figures are kept); until it is done the page shows how far it got and asks again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from huifang.core.durations import elapsed_text, seconds_text
from huifang.core.limits import small_id
from huifang.engine.lifecycle import InFlight, activate
from huifang.engine.models import Enrollment
from huifang.rules.models import Rule, RuleVersion
from huifang.rules.plans import plan

from .access import can_edit, editors, readers
from .impact import (
    DAYS,
    default_days,
    expected_seconds,
    give_up,
    latest,
    progress_of,
    shown,
    silent,
    stale,
)
from .models import Preview
from .tasks import queue_preview

# A preview still waiting for a worker after this long: the page asks whether one runs.
UNCLAIMED = timedelta(seconds=30)

IN_FLIGHT = (
    (
        InFlight.KEEP,
        gettext_lazy("Keep them on their version"),
        gettext_lazy(
            "Customers part-way through go on with the version they started on; new plans "
            "start on this one."
        ),
    ),
    (
        InFlight.MOVE,
        gettext_lazy("Move them to this version"),
        gettext_lazy(
            "They continue on this version from their next step; a plan whose step no longer "
            "exists ends."
        ),
    ),
    (
        InFlight.END,
        gettext_lazy("End their plans"),
        gettext_lazy("Their plans end now: this rule sends them nothing more."),
    ),
)


def running(rule: Rule) -> RuleVersion | None:
    """The version that runs (or would run again on resume): none for a draft or archived rule."""
    if rule.status in (Rule.Status.ACTIVE, Rule.Status.PAUSED):
        return rule.current_version
    return None


def asks_in_flight(rule: Rule, version: RuleVersion) -> bool:
    current = running(rule)
    return current is not None and current.pk != version.pk


class ActivateForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    comment = forms.CharField(
        label=gettext_lazy("Why"),
        max_length=200,
        help_text=gettext_lazy("Kept in the rule's history with the activation."),
        error_messages={"required": gettext_lazy("Say why this version should run.")},
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )
    in_flight = forms.ChoiceField(
        label=gettext_lazy("Customers part-way through"),
        choices=[(value, label) for value, label, _help in IN_FLIGHT],
        error_messages={
            "required": gettext_lazy("Choose what happens to customers part-way through.")
        },
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, rule: Rule, version: RuleVersion, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.target = version
        self.fields["version"].initial = version.number
        if not asks_in_flight(rule, version):
            del self.fields["in_flight"]

    def clean_version(self) -> int:
        number = int(self.cleaned_data["version"])
        if number != self.target.number:
            raise forms.ValidationError(
                _("Version %(n)s was saved after this preview: look at its impact first.")
                % {"n": self.target.number}
            )
        return number

    def choices(self) -> list[dict[str, Any]]:
        """The in-flight choices with their one-line explanation, for the template."""
        if "in_flight" not in self.fields:
            return []
        chosen = self["in_flight"].value()
        return [
            {"value": value, "label": label, "help": help_text, "checked": value == chosen}
            for value, label, help_text in IN_FLIGHT
        ]


def _days(value: str | None, version: RuleVersion) -> int:
    """The period asked for, else the shortest that shows the version doing something."""
    try:
        days = int(value or 0)
    except ValueError:
        days = 0
    return days if days in DAYS else default_days(version)


def _previewed(rule: Rule) -> RuleVersion:
    version = rule.latest_version()
    if version is None:
        raise Http404("no version")
    return version


@readers
@require_GET
def preview(request: HttpRequest, key: str) -> HttpResponse:
    rule = get_object_or_404(Rule.objects.select_related("current_version"), key=key)
    return _page(request, rule, _previewed(rule))


def _page(
    request: HttpRequest,
    rule: Rule,
    version: RuleVersion,
    form: ActivateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    days = _days(request.POST.get("days") or request.GET.get("days"), version)
    current = running(rule)
    activatable = current is None or current.pk != version.pk
    if form is None and activatable and can_edit(request.user):
        form = ActivateForm(rule=rule, version=version)
    in_flight = 0
    if form is not None and "in_flight" in form.fields:
        in_flight = (
            Enrollment.objects.filter(rule=rule, status=Enrollment.Status.ACTIVE)
            .exclude(version=version)
            .count()
        )
    query = urlencode({"days": days, "version": version.number})
    context: dict[str, Any] = {
        "rule": rule,
        "version": version,
        "running": current,
        "days": days,
        "day_choices": DAYS,
        "result_url": f"{reverse('rules:preview_result', args=[rule.key])}?{query}",
        "form": form,
        "in_flight_choices": form.choices() if form is not None else [],
        "plans_in_flight": in_flight,
    }
    return render(request, "studio/preview.html", context, status=status)


def _asked(request: HttpRequest, key: str) -> tuple[Rule, RuleVersion, int]:
    rule = get_object_or_404(Rule, key=key)
    number = request.POST.get("version") or request.GET.get("version", "")
    version = (
        rule.versions.filter(number=small_id(number) or 0).first() if small_id(number) else None
    ) or _previewed(rule)
    return rule, version, _days(request.POST.get("days") or request.GET.get("days"), version)


@readers
@require_GET
def preview_result(request: HttpRequest, key: str) -> HttpResponse:
    """The figures, fetched by the page: kept ones while fresh, else a worker is asked for new
    ones and the page is told how far it got, and asks again."""
    rule, version, days = _asked(request, key)
    now = timezone.now()
    preview = latest(version, days)
    if preview is not None and preview.status in Preview.WORKING and silent(preview, now):
        give_up(preview, now)
    if preview is None or (preview.status not in Preview.WORKING and stale(preview, rule, now)):
        preview = _queue(request, rule, version, days)
    return _result(request, rule, version, days, preview)


@readers
@require_POST
def preview_again(request: HttpRequest, key: str) -> HttpResponse:
    """Simulate again from now, whatever is kept (after a failure, or data just changed)."""
    rule, version, days = _asked(request, key)
    preview = latest(version, days)
    if preview is None or preview.status not in Preview.WORKING:
        preview = _queue(request, rule, version, days)
    return _result(request, rule, version, days, preview)


def _queue(request: HttpRequest, rule: Rule, version: RuleVersion, days: int) -> Preview:
    preview = queue_preview(rule, version, days, user=request.user)
    preview.refresh_from_db()  # done already where Huey runs tasks in the process
    return preview


def _result(
    request: HttpRequest, rule: Rule, version: RuleVersion, days: int, preview: Preview
) -> HttpResponse:
    reach = plan(version.pk).first_reach
    query = urlencode({"days": days, "version": version.number})
    context: dict[str, Any] = {
        "rule": rule,
        "version": version,
        "days": days,
        "preview": preview,
        "impact": None,
        "error": "",
        "poll_url": f"{reverse('rules:preview_result', args=[rule.key])}?{query}",
        "again_url": reverse("rules:preview_again", args=[rule.key]),
        # Events still to come are not known: an event rule shows only what is already stored.
        "on_events": version.content.get("trigger", {}).get("kind") == "event",
        # The period ends before the rule's first message or task: say so, not just zeros.
        "reach": elapsed_text(reach) if reach >= timedelta(days=days) else "",
    }
    if preview.status == Preview.Status.DONE and preview.result is not None:
        context["impact"] = shown(preview.result)
        if preview.seconds is not None:
            context["took"] = seconds_text(preview.seconds)
    elif preview.status == Preview.Status.FAILED:
        context["error"] = preview.error or _("The worker stopped before the simulation finished.")
    else:
        done, _beat = progress_of(preview)
        began = preview.start or preview.requested_at
        expected = expected_seconds(preview)
        waiting = preview.status == Preview.Status.QUEUED
        context["progress"] = {
            "percent": int(done * 100),
            "waiting": waiting,
            # Long in the queue: no worker may be running at all.
            "unclaimed": waiting and timezone.now() - began > UNCLAIMED,
            "elapsed": seconds_text((timezone.now() - began).total_seconds()),
            "expected": seconds_text(expected) if expected else "",
        }
    return render(request, "studio/_preview_result.html", context)


@editors
@require_POST
def activate_version(request: HttpRequest, key: str) -> HttpResponse:
    rule = get_object_or_404(Rule.objects.select_related("current_version"), key=key)
    version = _previewed(rule)
    form = ActivateForm(request.POST, rule=rule, version=version)
    current = running(rule)
    if current is not None and current.pk == version.pk:
        form.add_error(None, _("Version %(n)s already runs.") % {"n": version.number})
    if (problem := plan(version.pk).problem) is not None:
        form.add_error(
            None,
            _("Version %(n)s cannot run: %(why)s Save a corrected version first.")
            % {"n": version.number, "why": problem.message},
        )
    if not form.is_valid():
        return _page(request, rule, version, form=form, status=400)
    activate(
        rule,
        version,
        in_flight=form.cleaned_data.get("in_flight") or InFlight.KEEP,
        actor=request.user,
        comment=form.cleaned_data["comment"],
    )
    rule.refresh_from_db()
    if rule.status == Rule.Status.PAUSED:
        note = _("Version %(n)s is now the current one; the rule stays paused until resumed.")
    else:
        note = _("Version %(n)s is running.")
    messages.success(request, note % {"n": version.number})
    return redirect("rules:detail", key=rule.key)
