"""A task's history in words: "Outcome recorded · 张三 · Reached, satisfaction 2/5" rather than
the codes its events store (``TaskEvent.data``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from huifang.core.templatetags.huifang import staff_name
from huifang.customers.event_properties import moment_text

from .forms import ACTIONS
from .models import Reminder, Task, TaskEvent


@dataclass
class Line:
    at: datetime
    kind: str
    title: str
    actor: str
    text: str
    notes: str = ""


def lines(events: Iterable[TaskEvent]) -> list[Line]:
    """``events`` as lines to read; the staff they name are read in one query."""
    events = list(events)
    ids = {
        value
        for e in events
        for key in ("to", "from")
        if isinstance(value := (e.data or {}).get(key), int)
    }
    users = {
        u.pk: u for u in get_user_model().objects.filter(pk__in=ids).select_related("staff_profile")
    }
    return [
        Line(
            at=e.at,
            kind=e.kind,
            title=str(e.get_kind_display()),
            actor=staff_name(e.actor) if e.actor_id else "",
            text=_text(e, e.data if isinstance(e.data, dict) else {}, users),
            notes=str((e.data or {}).get("notes") or "")
            if e.kind == TaskEvent.Kind.OUTCOME
            else "",
        )
        for e in events
    ]


def _notes(event: TaskEvent) -> str:
    """What the agent wrote with an outcome, shown under its line."""
    if event.kind != TaskEvent.Kind.OUTCOME or not isinstance(event.data, dict):
        return ""
    return str(event.data.get("notes") or "")


def _person(users: dict[int, Any], pk: Any) -> str:
    if pk is None:
        return _("the team queue")
    user = users.get(pk)
    return staff_name(user) if user is not None else _("someone no longer here")


def _text(event: TaskEvent, data: dict[str, Any], users: dict[int, Any]) -> str:
    kind = event.kind
    if kind == TaskEvent.Kind.ASSIGNED:
        parts = [_("to %(name)s") % {"name": _person(users, data.get("to"))}]
        if data.get("note"):
            parts.append(str(data["note"]))
        return " · ".join(parts)
    if kind == TaskEvent.Kind.REASSIGNED:
        text = _("from %(before)s to %(after)s") % {
            "before": _person(users, data.get("from")),
            "after": _person(users, data.get("to")),
        }
        return f"{text} · {data['reason']}" if data.get("reason") else text
    if kind == TaskEvent.Kind.OUTCOME:
        return _outcome(data)
    if kind == TaskEvent.Kind.RESCHEDULED:
        due = parse_datetime(str(data.get("due_at") or ""))
        return _("now due %(at)s") % {"at": moment_text(due)} if due else ""
    if kind == TaskEvent.Kind.CANCELLED:
        return str(data.get("reason") or "")
    if kind == TaskEvent.Kind.ESCALATED:
        text = _("level %(level)s") % {"level": data.get("level", 1)}
        if "to" in data:
            text += " · " + _("to %(name)s") % {"name": _person(users, data.get("to"))}
        return text
    if kind == TaskEvent.Kind.REMINDED:
        reminder = dict(Reminder.Kind.choices).get(str(data.get("reminder")), "")
        who = _("to %(name)s") % {"name": _person(users, data.get("to"))} if "to" in data else ""
        return " · ".join(str(p) for p in (reminder, who) if p)
    if kind == TaskEvent.Kind.UNDONE:
        taken = dict(Task.Outcome.choices).get(str(data.get("outcome")), "")
        return _("“%(outcome)s” taken back; consent restored on %(count)s channels") % {
            "outcome": taken,
            "count": len(data.get("channels") or []),
        }
    if kind == TaskEvent.Kind.SURVEY:
        return str(data.get("note") or "")
    return str(data.get("note") or "")


def _outcome(data: dict[str, Any]) -> str:
    outcomes = dict(Task.Outcome.choices)
    parts = [str(outcomes.get(str(data.get("outcome")), data.get("outcome") or ""))]
    if data.get("score"):
        parts.append(_("satisfaction %(score)s/5") % {"score": data["score"]})
    moment = parse_datetime(str(data.get("call_back_at") or ""))
    if moment is not None:
        parts.append(_("call back %(at)s") % {"at": moment_text(moment)})
    actions = dict(ACTIONS)
    named = [str(actions[a]) for a in data.get("actions") or () if a in actions]
    if named:
        parts.append(_("next: %(actions)s") % {"actions": "、".join(named)})
    if data.get("tags"):
        parts.append(_("tags: %(tags)s") % {"tags": "、".join(str(t) for t in data["tags"])})
    return " · ".join(p for p in parts if p)
