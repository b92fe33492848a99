"""Working hours: the weekdays worked and one daily window, e.g. Mon–Fri 09:00–18:00; and the
team settings counted in them (SLA by priority, the escalation chain).

Stored as ``{"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}`` with Monday = 0.
Statutory holidays and 调休 working days come from the calendar, not from here.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def default_working_hours() -> dict[str, Any]:
    return {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "18:00"}


def validate_working_hours(value: Any) -> None:
    if not isinstance(value, dict) or set(value) != {"days", "start", "end"}:
        raise ValidationError(_("Working hours need exactly the keys days, start and end."))
    days = value["days"]
    if (
        not isinstance(days, list)
        or not days
        or not all(isinstance(d, int) and 0 <= d <= 6 for d in days)
    ):
        raise ValidationError(_("Working days must be a list of weekday numbers, Monday = 0."))
    for key in ("start", "end"):
        if not isinstance(value[key], str) or not _TIME.match(value[key]):
            raise ValidationError(_("%(key)s must be a time written as HH:MM.") % {"key": key})
    if value["start"] >= value["end"]:
        raise ValidationError(_("The working day must end after it starts."))


PRIORITIES = ("low", "normal", "high", "urgent")
ESCALATION_TARGETS = ("supervisor", "manager")


def default_sla_hours() -> dict[str, int]:
    """Working hours to reach the customer: a complaint is urgent (24 h), a VIP high (72 h)."""
    return {"low": 120, "normal": 72, "high": 72, "urgent": 24}


def default_escalation() -> list[dict[str, Any]]:
    return [
        {"after_hours": 24, "to": "supervisor", "reassign": False},
        {"after_hours": 48, "to": "manager", "reassign": False},
    ]


def validate_sla_hours(value: Any) -> None:
    if not isinstance(value, dict) or not set(value) <= set(PRIORITIES):
        raise ValidationError(_("SLA hours are an object of priority → hours."))
    for hours in value.values():
        if not isinstance(hours, int | float) or not 0 < hours <= 10000:
            raise ValidationError(_("An SLA is a number of working hours above 0."))


def validate_escalation(value: Any) -> None:
    """A list of levels, each later than the one before; ``to`` is the team's supervisor, the
    supervisor's own supervisor (manager) or ``user:<username>``."""
    if not isinstance(value, list):
        raise ValidationError(_("The escalation chain is a list of levels."))
    previous = 0.0
    for level in value:
        if not isinstance(level, dict) or not {"after_hours", "to"} <= set(level):
            raise ValidationError(_("Each escalation level needs after_hours and to."))
        hours = level["after_hours"]
        if not isinstance(hours, int | float) or hours <= previous:
            raise ValidationError(
                _("Each escalation level comes a positive number of hours after the one before.")
            )
        previous = float(hours)
        target = level["to"]
        if not isinstance(target, str) or not (
            target in ESCALATION_TARGETS or (target.startswith("user:") and len(target) > 5)
        ):
            raise ValidationError(
                _("Escalate to supervisor, manager or user:<username>, not “%(to)s”.")
                % {"to": target}
            )
        if not isinstance(level.get("reassign", False), bool):
            raise ValidationError(_("reassign is true or false."))
