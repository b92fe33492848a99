"""Why this task: the sentence an agent reads before calling ("为什么有这个任务").

In words, with the event that caused it: a rule's task names the rule, the step and what
triggered it (the purchase and its product, the complaint and its reason); a task opened by
another task's outcome names that outcome; a task opened by hand says who opened it and why.
Codes (``event:123``, ``recurring:2026-12-01``, step ids) never reach the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from huifang.core.durations import duration_text
from huifang.core.templatetags.huifang import staff_name
from huifang.customers import event_properties
from huifang.customers.event_types import label_of
from huifang.customers.models import Event

from .models import Task


@dataclass
class Why:
    headline: str
    details: list[str] = field(default_factory=list)
    link: tuple[str, str] | None = None  # (words, url)


def _when(moment: datetime | date | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return formats.date_format(moment, "Y-m-d H:i")
    return formats.date_format(moment, "Y-m-d")


def why(task: Task) -> Why:
    if task.parent_id and task.parent is not None:
        return _from_parent(task, task.parent)
    if task.rule_id and task.rule is not None:
        return _from_rule(task)
    if task.created_by_id and task.created_by is not None:
        headline = _("Opened by hand by %(name)s on %(at)s.") % {
            "name": staff_name(task.created_by),
            "at": _when(task.created_at),
        }
        return Why(headline, [task.reason] if task.reason else [])
    if task.reason:
        return Why(task.reason)
    return Why(
        _("Opened without a rule (imported or by the system) on %(at)s.")
        % {"at": _when(task.created_at)}
    )


def _from_parent(task: Task, parent: Task) -> Why:
    link = (parent.title, reverse("tasks:detail", args=[parent.pk]))
    details = [_("The agent wrote: %(notes)s") % {"notes": parent.notes}] if parent.notes else []
    if task.kind == Task.Kind.REMEDIATION and parent.score:
        headline = _("The customer gave %(score)s out of 5 on an earlier call: put it right.")
        return Why(headline % {"score": parent.score}, details, link)
    if task.kind == Task.Kind.REVISIT and parent.kind == Task.Kind.REMEDIATION:
        headline = _("The problem was worked on: ask the customer whether it was put right.")
        return Why(headline, details, link)
    if task.kind == Task.Kind.REVISIT:
        headline = _("A re-visit the agent asked for on an earlier call.")
        return Why(headline, details, link)
    headline = _("Opened by the outcome of an earlier call.")
    return Why(headline, details, link)


def _document(task: Task) -> dict[str, Any]:
    enrollment = task.enrollment if task.enrollment_id else None
    version = enrollment.version if enrollment is not None else None
    if version is None and task.rule is not None:
        version = task.rule.current_version or task.rule.latest_version()
    content = version.content if version is not None else None
    return content if isinstance(content, dict) else {}


def _step_text(task: Task, document: dict[str, Any]) -> str:
    steps = [s for s in document.get("steps") or [] if isinstance(s, dict)]
    index = next((i for i, s in enumerate(steps) if s.get("id") == task.step), None)
    if index is None:
        return ""
    return _("step %(n)s of %(count)s") % {"n": index + 1, "count": len(steps)}


def _from_rule(task: Task) -> Why:
    rule = task.rule
    assert rule is not None
    document = _document(task)
    trigger = document.get("trigger") if isinstance(document.get("trigger"), dict) else {}
    assert isinstance(trigger, dict)
    enrollment = task.enrollment if task.enrollment_id else None
    anchor = enrollment.anchor if enrollment is not None else ""
    kind, _sep, rest = anchor.partition(":")
    details: list[str] = []
    link = None
    names = {"rule": rule.name, "at": _when(enrollment.anchor_at if enrollment else None)}
    event = enrollment.event if enrollment is not None and enrollment.event_id else None
    if event is None and trigger.get("kind") == "event" and not anchor:
        event = _latest(task, str(trigger.get("event") or ""))  # the rule's trigger, not pinned
    if event is not None:
        headline = _("%(event)s on %(at)s: the rule “%(rule)s” asks for this call.") % {
            "event": label_of(event.type),
            "at": _when(event.occurred_at),
            "rule": rule.name,
        }
        described = event_properties.summary(event)
        if described:
            details.append(described)
        delay = duration_text(trigger.get("delay"))
        if delay and trigger.get("event") == event.type:
            details.append(_("The rule calls %(delay)s after it.") % {"delay": delay})
    elif kind == "task" and rest.isdigit():
        headline = _("An agent started the rule “%(rule)s” on an earlier call.") % names
        link = (_("Task #%(pk)s") % {"pk": rest}, reverse("tasks:detail", args=[int(rest)]))
    elif kind == "segment":
        headline = _("The customer came into the rule “%(rule)s”'s audience on %(at)s.") % names
    elif kind == "recurring":
        names["every"] = duration_text(trigger.get("every")) or "—"
        headline = _("The rule “%(rule)s” calls every %(every)s; this round began %(at)s.") % names
    elif kind == "date":
        names["at"] = rest or names["at"]
        headline = _("The date the rule “%(rule)s” watches: %(at)s.") % names
    else:
        headline = _("The rule “%(rule)s” asks for this call.") % names
    step = _step_text(task, document)
    version = enrollment.version.number if enrollment is not None else None
    if step:
        version_text = _("version %(n)s") % {"n": version} if version else ""
        details.append(" · ".join(p for p in (rule.name, step, version_text) if p))
    if task.reason:
        details.append(task.reason)
    return Why(headline, details, link)


def _latest(task: Task, event_type: str) -> Event | None:
    """The customer's last ``event_type`` before the task: what a rule's task without its plan
    (a plan deleted, a task from the demo's history) was most likely about."""
    if not event_type:
        return None
    return (
        Event.objects.filter(
            customer_id=task.customer_id, type=event_type, occurred_at__lte=task.created_at
        )
        .order_by("-occurred_at", "-pk")
        .first()
    )
