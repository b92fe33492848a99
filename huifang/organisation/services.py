"""The organisation's defaults as the rest of Huifang reads them: ``current()``.

The engine asks for them for every message it gates, so the answer is kept in the process for
``TTL_SECONDS``: one query per process and half-minute at most, whatever the volume. Saving
forgets the kept answer in the saving process at once (and again when the transaction commits);
other processes (workers on other machines) follow within ``TTL_SECONDS``.
"""

from __future__ import annotations

import re
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import transaction

from huifang.audit import services as audit

from .models import (
    SETTINGS_PK,
    OrganisationSettings,
    default_working_days,
    default_working_end,
    default_working_start,
)

TTL_SECONDS = 30.0
PUBLIC_URL = re.compile(r"https?://[^\s/?#@]+")

Cap = tuple[str, int, int]  # channel (or "any"), max, per_days


@dataclass(frozen=True)
class Organisation:
    """A snapshot of the organisation's defaults: plain, hashable values."""

    quiet_start: str
    quiet_end: str
    working_days: tuple[int, ...]
    working_start: str
    working_end: str
    caps: tuple[Cap, ...] = ()
    sms_signature: str = ""
    team_scoped_customers: bool = False
    public_url: str = ""
    name: str = ""
    stored: bool = False  # an admin saved the page (else: the environment's defaults)

    @property
    def display_name(self) -> str:
        """The name customers know the business by: the organisation's name, else its SMS
        signature; "" when neither is set (pages then say "us")."""
        return self.name or self.sms_signature

    @property
    def working_hours(self) -> dict[str, Any]:
        """In the shape of ``huifang.accounts.working_hours`` (``{"days", "start", "end"}``)."""
        return {
            "days": list(self.working_days),
            "start": self.working_start,
            "end": self.working_end,
        }


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


@lru_cache(maxsize=8)
def _environment(quiet_hours: str) -> Organisation:
    start, _sep, end = quiet_hours.partition("-")  # checked at start-up: 21:00-08:00
    return Organisation(
        quiet_start=start,
        quiet_end=end,
        working_days=tuple(default_working_days()),
        working_start=_hhmm(default_working_start()),
        working_end=_hhmm(default_working_end()),
    )


def snapshot(row: OrganisationSettings | None) -> Organisation:
    if row is None:
        # Read from the settings each time (cheaply): what is kept is only "no row".
        return _environment(str(settings.HUIFANG_QUIET_HOURS))
    return Organisation(
        quiet_start=_hhmm(row.quiet_start),
        quiet_end=_hhmm(row.quiet_end),
        working_days=tuple(sorted(int(d) for d in row.working_days)),
        working_start=_hhmm(row.working_start),
        working_end=_hhmm(row.working_end),
        caps=tuple((str(c["channel"]), int(c["max"]), int(c["per_days"])) for c in row.caps),
        sms_signature=row.sms_signature,
        team_scoped_customers=row.team_scoped_customers,
        public_url=row.public_url,
        name=row.name,
        stored=True,
    )


_kept: tuple[float, Organisation | None] | None = None  # (when read, the saved row's values)


def current() -> Organisation:
    """The organisation's defaults, read at most once per ``TTL_SECONDS`` in a process."""
    global _kept
    kept = _kept
    now = clock.monotonic()
    if kept is None or now - kept[0] >= TTL_SECONDS:
        row = OrganisationSettings.objects.filter(pk=SETTINGS_PK).first()
        kept = _kept = (now, snapshot(row) if row is not None else None)
    return kept[1] if kept[1] is not None else snapshot(None)


def forget() -> None:
    """Read the row again at the next ``current()``."""
    global _kept
    _kept = None


def settings_row() -> OrganisationSettings:
    """The stored row, or an unsaved one holding the environment's defaults (for the form)."""
    return OrganisationSettings.objects.filter(pk=SETTINGS_PK).first() or OrganisationSettings()


def save_settings(
    *,
    quiet_start: time,
    quiet_end: time,
    working_days: Sequence[int],
    working_start: time,
    working_end: time,
    caps: Sequence[Cap],
    sms_signature: str,
    actor: Any,
    team_scoped_customers: bool = False,
    name: str = "",
) -> OrganisationSettings:
    """Store the organisation's defaults (already validated by the form)."""
    with transaction.atomic():
        row, _created = OrganisationSettings.objects.update_or_create(
            pk=SETTINGS_PK,
            defaults={
                "quiet_start": quiet_start,
                "quiet_end": quiet_end,
                "working_days": sorted(set(working_days)),
                "working_start": working_start,
                "working_end": working_end,
                "caps": [{"channel": c, "max": m, "per_days": d} for c, m, d in caps],
                "sms_signature": sms_signature,
                "team_scoped_customers": team_scoped_customers,
                "name": name,
                "updated_by": actor,
            },
        )
        audit.record(
            audit.Action.SETTINGS,
            "organisation",
            actor=actor,
            object_type="organisation.settings",
            object_repr="organisation settings",
            details={
                "quiet_hours": f"{quiet_start:%H:%M}-{quiet_end:%H:%M}",
                "working_days": sorted(set(working_days)),
                "working_hours": f"{working_start:%H:%M}-{working_end:%H:%M}",
                "caps": [f"{c}:{m}/{d}d" for c, m, d in caps],
                "sms_signature": sms_signature,
                "team_scoped_customers": team_scoped_customers,
                "name": name,
            },
        )
        transaction.on_commit(forget)
    forget()
    return row


def base_url() -> str:
    """Where customers reach this installation, without a trailing slash: the start of every
    short, unsubscribe, questionnaire and receipt-callback link. ``BASE_URL`` when set; else
    the public address an administrator confirmed on the channels page; else
    ``http://localhost:8000``, which only this machine can open (the channels page and
    ``huifang check`` warn about it)."""
    if settings.HUIFANG_BASE_URL_SET:
        return str(settings.HUIFANG_BASE_URL)
    return current().public_url or str(settings.HUIFANG_BASE_URL)


def public_url_of(origin: str) -> str:
    """``origin`` as a public address (``scheme://host[:port]``), or "" when it is not one."""
    origin = origin.strip().rstrip("/")
    return origin if PUBLIC_URL.fullmatch(origin) else ""


def save_public_url(url: str, *, actor: Any) -> None:
    """Store the public address used while ``BASE_URL`` is not set (audited)."""
    if not public_url_of(url):
        raise ValueError(f"not an http(s) address: {url!r}")
    with transaction.atomic():
        row = settings_row()
        before = row.public_url
        row.public_url = public_url_of(url)
        row.updated_by = actor
        row.save()
        audit.record(
            audit.Action.SETTINGS,
            "public address",
            actor=actor,
            object_type="organisation.settings",
            object_repr="organisation settings",
            details={"public_url": row.public_url, "before": before},
        )
        transaction.on_commit(forget)
    forget()
