"""Comparing versions in words, and rolling back to one (a new version, audited)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huifang.core.limits import small_id
from huifang.engine.lifecycle import InFlight, rollback
from huifang.rules.models import Rule

from .access import editors, readers

_MISSING = object()


@dataclass
class Change:
    path: str
    before: Any
    after: Any

    @property
    def kind(self) -> str:
        if self.before is _MISSING:
            return "added"
        if self.after is _MISSING:
            return "removed"
        return "changed"

    @property
    def before_text(self) -> str:
        return "" if self.before is _MISSING else _show(self.before)

    @property
    def after_text(self) -> str:
        return "" if self.after is _MISSING else _show(self.after)


def _show(value: Any) -> str:
    if isinstance(value, Mapping | list):
        return yaml.safe_dump(value, allow_unicode=True, default_flow_style=True, width=200).strip()
    return str(value)


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    """Leaves by path; steps are keyed by their id so a moved step reads as moved, not as a
    rewrite of every step after it."""
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(item, f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and path == "steps":
        for index, step in enumerate(value):
            name = step.get("id", index) if isinstance(step, Mapping) else index
            out[f"steps[{name}].position"] = index + 1
            _flatten({k: v for k, v in step.items() if k != "id"}, f"steps[{name}]", out)
    else:
        out[path] = value


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(before, "", a)
    _flatten(after, "", b)
    paths = list(a) + [p for p in b if p not in a]
    return [
        Change(p, a.get(p, _MISSING), b.get(p, _MISSING))
        for p in paths
        if a.get(p, _MISSING) != b.get(p, _MISSING)
    ]


def yaml_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, str]]:
    left = yaml.safe_dump(dict(before), allow_unicode=True, sort_keys=False).splitlines()
    right = yaml.safe_dump(dict(after), allow_unicode=True, sort_keys=False).splitlines()
    lines = []
    for line in difflib.unified_diff(left, right, lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        lines.append((kind, line))
    return lines


@readers
def compare(request: HttpRequest, key: str) -> HttpResponse:
    rule = get_object_or_404(Rule, key=key)
    versions = list(rule.versions.select_related("created_by").order_by("-number"))
    numbers = {v.number: v for v in versions}
    error = ""

    def pick(name: str, default: int | None) -> Any:
        raw = request.GET.get(name, "")
        if small_id(raw) in numbers:
            return numbers[small_id(raw) or 0]
        return numbers.get(default) if default is not None else None

    newest = versions[0].number if versions else None
    right = pick("b", newest)
    left = pick("a", right.number - 1 if right is not None and right.number > 1 else newest)
    if left is None or right is None:
        error = _("There are no versions to compare yet.")
    context = {
        "rule": rule,
        "versions": versions,
        "left": left,
        "right": right,
        "error": error,
        "changes": changes(left.content, right.content) if left and right else [],
        "diff": yaml_diff(left.content, right.content) if left and right else [],
    }
    return render(request, "studio/compare.html", context)


@require_POST
@editors
def roll_back(request: HttpRequest, key: str, number: int) -> HttpResponse:
    """Run version ``number`` again as a new version (one click, kept in the history)."""
    rule = get_object_or_404(Rule, key=key)
    target = get_object_or_404(rule.versions, number=number)
    in_flight = request.POST.get("in_flight", InFlight.KEEP)
    if in_flight not in InFlight.choices:
        in_flight = InFlight.KEEP
    comment = request.POST.get("comment", "").strip()
    version = rollback(
        rule,
        target,
        actor=request.user,
        in_flight=in_flight,
        comment=comment or _("Rolled back to version %(number)s") % {"number": number},
    )
    messages.success(
        request,
        _("Version %(old)s runs again, as version %(new)s.")
        % {"old": number, "new": version.number},
    )
    return redirect("rules:detail", key=rule.key)
