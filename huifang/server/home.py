"""The page after signing in, by role: administrators get today's numbers and the first-day
checklist; agents land on their follow-ups (我的回访), supervisors on the team board, analysts
on the cockpit."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huifang.accounts.permissions import requires
from huifang.accounts.roles import Role, roles_of
from huifang.analytics.rollup import day_bounds, local_day
from huifang.integrations.kinds import STAFF
from huifang.integrations.models import Provider
from huifang.messaging.models import Message, MessageTemplate
from huifang.rules.models import Rule, RuleVersion
from huifang.tasks.models import Task

# Where each role lands, the first role of the user's in this order deciding.
LANDING = (
    (Role.SUPERVISOR, "tasks:board"),
    (Role.AGENT, "tasks:mine"),
    (Role.ANALYST, "analytics:cockpit"),
)


@requires("workspace", "view")
def home(request: HttpRequest) -> HttpResponse:
    roles = roles_of(request.user)
    if Role.ADMIN not in roles:
        for role, page in LANDING:
            if role in roles:
                return redirect(page)
        return redirect("customers:list")
    return render(request, "home.html", {"today": today_numbers(), "steps": first_day()})


def today_numbers() -> list[dict[str, Any]]:
    """Today's figures (the organisation's day so far), each read through a day index."""
    start, end = day_bounds(local_day(timezone.now()))
    messages = Message.objects.filter(customer__isnull=False)
    closed_today = Task.objects.filter(
        status=Task.Status.DONE, closed_at__gte=start, closed_at__lt=end
    )
    return [
        {
            "key": "sent",
            "label": _("Messages sent"),
            "value": messages.filter(sent_at__gte=start, sent_at__lt=end).count(),
            "url": reverse("messaging:messages"),
        },
        {
            "key": "delivered",
            "label": _("Delivered"),
            "value": messages.filter(delivered_at__gte=start, delivered_at__lt=end).count(),
            "url": reverse("messaging:messages"),
        },
        {
            "key": "opened",
            "label": _("Follow-up tasks opened"),
            "value": Task.objects.filter(created_at__gte=start, created_at__lt=end).count(),
            "url": reverse("tasks:board"),
        },
        {
            "key": "done",
            "label": _("Follow-ups done"),
            "value": closed_today.count(),
            "url": reverse("tasks:board"),
        },
    ]


def first_day() -> list[dict[str, Any]]:
    """The four steps from an empty installation to the first follow-up going out, each
    ticked once it holds."""
    channel = any(p.channel != STAFF for p in Provider.objects.filter(enabled=True).only("channel"))
    return [
        {
            "key": "channel",
            "label": _("Connect a channel"),
            "help": _("An SMS, e-mail or WeCom provider, so messages leave Huifang."),
            "done": channel,
            "url": reverse("integrations:add"),
        },
        {
            "key": "template",
            "label": _("Write a message template"),
            "help": _("The text customers receive, with their name and order filled in."),
            "done": MessageTemplate.objects.exists(),
            "url": reverse("messaging:template_new"),
        },
        {
            "key": "strategy",
            "label": _("Build a strategy"),
            "help": _("Who is followed up, when and how: start from a ready one."),
            "done": RuleVersion.objects.exists(),
            "url": reverse("rules:gallery"),
        },
        {
            "key": "activate",
            "label": _("Preview and activate it"),
            "help": _("See what it would send over the next days, then switch it on."),
            "done": Rule.objects.filter(status=Rule.Status.ACTIVE).exists(),
            "url": reverse("rules:list"),
        },
    ]
