"""Time zones: the one place a zone name becomes a ``ZoneInfo``.

A customer's, a team's or a viewer's zone is read here, with one fallback: the organisation's
zone (the ``TIME_ZONE`` setting). Names are checked when they are stored
(``huifang.core.zones.validate_zone_name`` on the models, forms, API and imports), so the
fallback only covers rows written before that check, never a typo accepted today.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from huifang.core.zones import is_zone_name, zone_names


def organisation_zone() -> ZoneInfo:
    return zone(str(settings.TIME_ZONE))


def zone(name: str | None) -> ZoneInfo:
    """``name`` as a zone; the organisation's zone for a missing or unknown name."""
    return _zone_or(name, settings.TIME_ZONE)


@lru_cache(maxsize=512)
def _zone_or(name: str | None, fallback: str) -> ZoneInfo:
    # Asked for every message the gate looks at: one lookup for the name and the fallback.
    return _zone(name if name and is_zone_name(name) else str(fallback))


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def customer_zone(customer: Any) -> ZoneInfo:
    """The customer's own zone (anything with a ``time_zone``: a customer row or a snapshot)."""
    return zone(getattr(customer, "time_zone", None))


def viewer_zone(user: Any) -> ZoneInfo:
    """The zone on the user's staff profile, else the organisation's."""
    profile = getattr(user, "staff_profile", None) if user is not None else None
    return zone(getattr(profile, "time_zone", None))


def local_date(moment: datetime, name: str | None = None) -> date:
    """The calendar date of ``moment`` in zone ``name`` (the organisation's by default)."""
    return moment.astimezone(zone(name or str(settings.TIME_ZONE))).date()


@lru_cache(maxsize=64)
def zones_changing(first: date, last: date) -> frozenset[str]:
    """The time zones whose UTC offset changes between 00:00 UTC on ``first`` and 00:00 UTC on
    ``last`` (looked at once a day: no zone changes twice in a day). Where a statement added
    days as 24 hours to many enrollments at once, only customers in these zones need theirs
    counted again; most customers' zone (Asia/Shanghai) is never among them."""
    start = datetime.combine(first, time(0), tzinfo=UTC)
    moments = [start + timedelta(days=n) for n in range(1, (last - first).days + 1)]
    changing = set()
    for name in zone_names():
        here = zone(name)
        offset = start.astimezone(here).utcoffset()
        if any(moment.astimezone(here).utcoffset() != offset for moment in moments):
            changing.add(name)
    return frozenset(changing)
