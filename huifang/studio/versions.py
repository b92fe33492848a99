"""Comparing versions in words, and rolling back to one (a new version, audited)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from huifang.core.durations import UNITS, duration_text
from huifang.core.limits import small_id
from huifang.customers.event_types import label_of
from huifang.customers.models import Channel
from huifang.engine.lifecycle import InFlight, rollback
from huifang.rules.models import Rule
from huifang.tasks.models import Task

from .access import editors, readers
from .builder import TRIGGER_LABELS

_MISSING = object()


@dataclass
class Change:
    path: str
    before: Any
    after: Any
    label: str = ""  # the setting in words: "Start after", "Step 2: wait"
    before_text: str = ""
    after_text: str = ""

    @property
    def kind(self) -> str:
        if self.before is _MISSING:
            return "added"
        if self.after is _MISSING:
            return "removed"
        return "changed"


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


# The settings of a rule document in words, by path (steps apart, below). The first match wins.
SETTINGS: list[tuple[str, Any]] = [
    (r"name", gettext_lazy("Name")),
    (r"key", gettext_lazy("Key")),
    (r"description", gettext_lazy("Description")),
    (r"trigger\.kind", gettext_lazy("Trigger")),
    (r"trigger\.event", gettext_lazy("Trigger event")),
    (r"trigger\.delay\.\w+", gettext_lazy("Start after")),
    (r"trigger\.where(\..*)?", gettext_lazy("Trigger conditions")),
    (r"trigger\.every\.\w+", gettext_lazy("Repeat every")),
    (r"trigger\.(field|property)", gettext_lazy("Date")),
    (r"trigger\.offset\.\w+", gettext_lazy("Offset from the date")),
    (r"trigger\.before", gettext_lazy("Before the date")),
    (r"trigger\.at", gettext_lazy("Time of day")),
    (r"trigger\.include_existing", gettext_lazy("Also the customers already in the segment")),
    (r"audience(\..*)?", gettext_lazy("Audience")),
    (r"policy\.quiet_hours\.start", gettext_lazy("Quiet hours from")),
    (r"policy\.quiet_hours\.end", gettext_lazy("Quiet hours until")),
    (r"policy\.days", gettext_lazy("Days")),
    (r"policy\.caps", gettext_lazy("Contact caps")),
    (r"policy\.on_cap", gettext_lazy("Over the cap")),
    (r"policy\.misfire_grace\.\w+", gettext_lazy("Misfire grace")),
    (r"policy\.reenroll_after\.\w+", gettext_lazy("Enroll again after")),
    (r"policy\.max_attempts", gettext_lazy("Most attempts")),
    (r"exit\.on", gettext_lazy("Ends when")),
]
STEP_SETTINGS: list[tuple[str, Any]] = [
    (r"position", gettext_lazy("position")),
    (r"send\.channels?", gettext_lazy("channel")),
    (r"send\.template", gettext_lazy("template")),
    (r"send\.transactional", gettext_lazy("transactional")),
    (r"task\.title", gettext_lazy("task title")),
    (r"task\.script", gettext_lazy("script")),
    (r"task\.priority", gettext_lazy("priority")),
    (r"task\.sla\.\w+", gettext_lazy("SLA")),
    (r"task\.assign(\..*)?", gettext_lazy("assignment")),
    (r"wait\.\w+", gettext_lazy("wait")),
    (r"wait_reply\.\w+", gettext_lazy("wait for a reply")),
    (r"on_reply", gettext_lazy("on a reply")),
    (r"branch", gettext_lazy("branches")),
    (r"stop", gettext_lazy("stop")),
    (r"survey", gettext_lazy("questionnaire")),
]
_STEP = re.compile(r"steps\[(?P<id>[^\]]+)\]\.(?P<rest>.+)")


def _label(path: str, numbers: Mapping[str, int]) -> str:
    step = _STEP.fullmatch(path)
    if step is not None:
        number = numbers.get(step["id"])
        what = next(
            (str(text) for pattern, text in STEP_SETTINGS if re.fullmatch(pattern, step["rest"])),
            step["rest"],
        )
        return _("Step %(n)s: %(what)s") % {"n": number or "—", "what": what}
    return next((str(text) for pattern, text in SETTINGS if re.fullmatch(pattern, path)), path)


def _value(path: str, value: Any, numbers: Mapping[str, int]) -> str:
    """A setting's value in words where the document's is a code: durations with their unit,
    channels, event types, priorities, steps by number, yes and no."""
    if value is _MISSING or value is None:
        return ""
    last = path.rsplit(".", 1)[-1]
    if last in UNITS and isinstance(value, int):
        return duration_text({last: value})
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if last in ("channel", "channels"):
        channels = dict(Channel.choices)
        items = value if isinstance(value, list) else [value]
        return " → ".join(str(channels.get(c, c)) for c in items)
    if path in ("trigger.event",) or path == "exit.on":
        items = value if isinstance(value, list) else [value]
        return "、".join(label_of(str(e)) for e in items)
    if path == "trigger.kind":
        return str(TRIGGER_LABELS.get(value, value))
    if last == "priority":
        return str(dict(Task.Priority.choices).get(value, value))
    if last == "on_reply":
        if value in numbers:
            return _("go to step %(number)s") % {"number": numbers[value]}
        return str(
            {"continue": _("carry on with the next step"), "stop": _("stop the plan")}.get(
                value, value
            )
        )
    return _show(value)


def _numbers(document: Mapping[str, Any]) -> dict[str, int]:
    return {
        str(step.get("id")): index + 1
        for index, step in enumerate(document.get("steps") or [])
        if isinstance(step, Mapping)
    }


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """What differs between two versions, setting by setting, in words."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(before, "", a)
    _flatten(after, "", b)
    old, new = _numbers(before), _numbers(after)
    paths = list(a) + [p for p in b if p not in a]
    found = []
    for path in paths:
        left, right = a.get(path, _MISSING), b.get(path, _MISSING)
        if left == right:
            continue
        found.append(
            Change(
                path,
                left,
                right,
                label=_label(path, {**old, **new}),
                before_text=_value(path, left, old),
                after_text=_value(path, right, new),
            )
        )
    return found


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
