"""A rule version as the engine reads it: the parsed document, its steps and its timings.

Versions never change once written, so each process parses a version once and keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models.signals import post_save

from huifang.core import statements
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.quiet_hours import QuietHours
from huifang.organisation.services import Cap as CapRow
from huifang.organisation.services import current as organisation
from huifang.rules.document import Cap, Duration, RuleDocument, Send, Step
from huifang.rules.models import RuleVersion

DEFAULT_MISFIRE_GRACE = timedelta(hours=12)


@dataclass
class Plan:
    version_id: int
    rule_id: int
    document: RuleDocument
    steps: dict[str, Step] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.order = [step.id for step in self.document.steps]
        self.steps = {step.id: step for step in self.document.steps}

    @property
    def first_step(self) -> str:
        return self.order[0]

    def following(self, step_id: str) -> str | None:
        index = self.order.index(step_id)
        return self.order[index + 1] if index + 1 < len(self.order) else None

    @property
    def grace(self) -> timedelta:
        grace = self.document.policy.misfire_grace
        return fixed(grace) if grace else DEFAULT_MISFIRE_GRACE

    @property
    def quiet_hours(self) -> QuietHours:
        quiet = self.document.policy.quiet_hours
        return QuietHours.parse(quiet.start, quiet.end) if quiet else organisation_quiet_hours()

    @property
    def caps(self) -> tuple[Cap, ...]:
        """The rule's frequency caps; a rule that sets none has the organisation's defaults."""
        return tuple(self.document.policy.caps) or organisation_caps()

    @property
    def business_days(self) -> bool:
        return self.document.policy.days == "business"

    @property
    def exit_on(self) -> frozenset[str]:
        return frozenset(self.document.exit.on)


def organisation_quiet_hours() -> QuietHours:
    """The organisation's quiet hours (Organisation settings, else ``QUIET_HOURS``)."""
    org = organisation()
    return _quiet_hours(org.quiet_start, org.quiet_end)


def organisation_caps() -> tuple[Cap, ...]:
    """The organisation's default frequency caps (none unless an admin set them)."""
    return _caps(organisation().caps)


@lru_cache(maxsize=64)
def _quiet_hours(start: str, end: str) -> QuietHours:
    return QuietHours.parse(start, end)


@lru_cache(maxsize=64)
def _caps(rows: tuple[CapRow, ...]) -> tuple[Cap, ...]:
    return tuple(Cap(channel=channel, max=most, per_days=days) for channel, most, days in rows)


@lru_cache(maxsize=1024)
def plan(version_id: int) -> Plan:
    version = RuleVersion.objects.only("rule_id", "content").get(pk=version_id)
    return plan_for(version.pk, version.rule_id, version.content)


def plan_for(version_id: int, rule_id: int, content: dict[str, Any]) -> Plan:
    # Content was checked completely when it was saved; only the shape is read here.
    return Plan(version_id, rule_id, RuleDocument.model_validate(content))


def _forget(sender: type, instance: RuleVersion, created: bool, **kwargs: Any) -> None:
    # Ids are never reused in production, but a rolled-back test or simulation may reuse one.
    plan.cache_clear()
    statements.forget()


post_save.connect(_forget, sender=RuleVersion, dispatch_uid="engine-forget-plans")


def fixed(duration: Duration) -> timedelta:
    """A duration without business days as a ``timedelta`` (business days count as days)."""
    return timedelta(
        minutes=duration.minutes or 0,
        hours=duration.hours or 0,
        days=(duration.days or 0) + (duration.business_days or 0),
    )


def after(
    moment: datetime, duration: Duration | None, zone: ZoneInfo, calendar: BusinessCalendar
) -> datetime:
    """``moment`` plus ``duration``; business days are counted in the customer's zone and keep
    the time of day (a Friday-evening ticket + 1 business day is Monday evening)."""
    if duration is None:
        return moment
    if duration.business_days is None:
        return moment + fixed(duration)
    local = moment.astimezone(zone)
    day = calendar.add_working_days(local.date(), duration.business_days)
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone).astimezone(
        moment.tzinfo
    )


def channels_of(send: Send) -> list[str]:
    return [send.channel] if send.channel else list(send.channels or [])
