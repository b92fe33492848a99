"""The strategy studio's pages: the list of rules, a rule's page with its versions."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from huifang.rules.models import Rule, RuleVersion

from .access import can_edit, readers
from .state import CHANGES, changes_for
from .words import trigger_text


@readers
def rule_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    rules = Rule.objects.select_related("current_version").annotate(n_versions=Count("versions"))
    if status in Rule.Status.values:
        rules = rules.filter(status=status)
    shown = list(rules.order_by("status", "name"))
    # A rule never activated shows its newest saved version's trigger (or its draft's).
    unrun = [rule.pk for rule in shown if rule.current_version is None]
    newest: dict[int, dict[str, Any]] = {}
    for rule_id, content in (
        RuleVersion.objects.filter(rule_id__in=unrun)
        .order_by("rule_id", "number")
        .values_list("rule_id", "content")
    ):
        newest[rule_id] = content  # the last one of each rule wins
    for rule in shown:
        content = (
            rule.current_version.content
            if rule.current_version
            else rule.draft or newest.get(rule.pk) or {}
        )
        rule.trigger_label = trigger_text(content.get("trigger"))  # type: ignore[attr-defined]
    context: dict[str, Any] = {
        "rules": shown,
        "statuses": Rule.Status.choices,
        "status": status,
        "can_edit": can_edit(request.user),
    }
    return render(request, "studio/list.html", context)


@readers
def rule_detail(request: HttpRequest, key: str) -> HttpResponse:
    rule = get_object_or_404(Rule.objects.select_related("current_version"), key=key)
    versions = rule.versions.select_related("created_by").order_by("-number")
    changes = rule.changes.select_related("actor", "version")[:50]
    context: dict[str, Any] = {
        "rule": rule,
        "versions": versions,
        "changes": changes,
        "can_edit": can_edit(request.user),
        "state_changes": [
            {"name": name, "reason_required": CHANGES[name][1]} for name in changes_for(rule)
        ],
    }
    return render(request, "studio/detail.html", context)
