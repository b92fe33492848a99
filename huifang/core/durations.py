"""Durations as rule documents write them (``{days: 3}``, ``{every: {months: 1}}``), in words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.utils.translation import gettext, ngettext

UNITS: dict[str, Callable[[int], str]] = {
    "minutes": lambda n: ngettext("%(n)s minute", "%(n)s minutes", n),
    "hours": lambda n: ngettext("%(n)s hour", "%(n)s hours", n),
    "days": lambda n: ngettext("%(n)s day", "%(n)s days", n),
    "business_days": lambda n: ngettext("%(n)s business day", "%(n)s business days", n),
    "weeks": lambda n: ngettext("%(n)s week", "%(n)s weeks", n),
    "months": lambda n: ngettext("%(n)s month", "%(n)s months", n),
    "quarters": lambda n: ngettext("%(n)s quarter", "%(n)s quarters", n),
}


def duration_text(value: Any) -> str:
    """``{days: 3}`` as "3 天" / "3 days"; "" for anything else."""
    if not isinstance(value, dict):
        return ""
    for unit, amount in value.items():
        if unit in UNITS and isinstance(amount, int) and not isinstance(amount, bool):
            return str(UNITS[unit](amount) % {"n": amount})
    return ""


def elapsed_text(value: timedelta) -> str:
    """A length of time in its largest whole unit: "3 天", "36 小时", "90 分钟"."""
    seconds = int(value.total_seconds())
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds % size == 0:
            return duration_text({unit: seconds // size})
    return duration_text({"minutes": seconds // 60})


def seconds_text(seconds: float) -> str:
    """How long something took or should take, as a person says it: "12 秒", "3 分钟"."""
    if seconds < 1:
        return gettext("under a second")
    whole = round(seconds)
    if whole < 90:
        return ngettext("%(n)s second", "%(n)s seconds", whole) % {"n": whole}
    minutes = round(whole / 60)
    return ngettext("%(n)s minute", "%(n)s minutes", minutes) % {"n": minutes}
