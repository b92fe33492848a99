"""Working hours: the weekdays worked and one daily window, e.g. Mon–Fri 09:00–18:00.

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
