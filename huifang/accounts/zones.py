"""The viewer's clock: times are stored in UTC and shown in the time zone of the member of
staff looking at them (DESIGN.md invariant 5)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings


def viewer_zone(user: Any) -> ZoneInfo:
    """The zone on the user's staff profile, else the deployment's ``TIME_ZONE``."""
    # A user without a profile (a bare superuser) raises an AttributeError subclass here.
    profile = getattr(user, "staff_profile", None)
    name = getattr(profile, "time_zone", "") or settings.TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)
