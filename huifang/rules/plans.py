"""A rule version as the engine reads it: the parsed document, its steps and its timings.

Versions never change once written, so each process parses a version once and keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models.signals import post_save

from huifang.core import statements
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.quiet_hours import QuietHours
from huifang.organisation.services import Cap as CapRow
from huifang.organisation.services import current as organisation
from huifang.rules.document import (
    Cap,
    Duration,
    EventTrigger,
    RuleDocument,
    RuleError,
    Send,
    Step,
    conditions_problem,
)
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

    @cached_property
    def problem(self) -> RuleError | None:
        """Why this version must not run: a field or condition off the allow-list (a version
        saved before it was refused). ``None`` for every version saved since."""
        return conditions_problem(self.document)

    @property
    def first_step(self) -> str:
        return self.order[0]

    @cached_property
    def first_reach(self) -> timedelta:
        """How long after its trigger the plan first sends a message or opens a task, going
        through the steps in order (waits add up; business days count as days): what a
        preview must cover to show the rule doing anything."""
        trigger = self.document.trigger
        reach = (
            fixed(trigger.delay)
            if isinstance(trigger, EventTrigger) and trigger.delay
            else timedelta()
        )
        for step in self.document.steps:
            if step.send or step.task:
                break
            for wait in (step.wait, step.wait_reply):
                if wait is not None:
                    reach += fixed(wait)
        return reach

    def following(self, step_id: str) -> str | None:
        index = self.order.index(step_id)
        return self.order[index + 1] if index + 1 < len(self.order) else None

    # A version's document never changes: what the gate reads of it for every message is
    # read once. What falls back to the organisation's settings is asked each time (they can).

    @cached_property
    def grace(self) -> timedelta:
        grace = self.document.policy.misfire_grace
        return fixed(grace) if grace else DEFAULT_MISFIRE_GRACE

    @property
    def quiet_hours(self) -> QuietHours:
        own = self._own_quiet_hours
        return own if own is not None else organisation_quiet_hours()

    @cached_property
    def _own_quiet_hours(self) -> QuietHours | None:
        quiet = self.document.policy.quiet_hours
        return QuietHours.parse(quiet.start, quiet.end) if quiet else None

    @property
    def caps(self) -> tuple[Cap, ...]:
        """The rule's frequency caps; a rule that sets none has the organisation's defaults."""
        return self._own_caps or organisation_caps()

    @cached_property
    def _own_caps(self) -> tuple[Cap, ...]:
        return tuple(self.document.policy.caps)

    @cached_property
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
    """A duration as elapsed time (days and business days as 24 hours each): for windows such
    as the misfire grace, ``reenroll_after`` and enrollment horizons, not for due times."""
    return timedelta(
        minutes=duration.minutes or 0,
        hours=duration.hours or 0,
        days=(duration.days or 0) + (duration.business_days or 0),
    )


def elapsed(duration: Duration) -> timedelta:
    """The hours and minutes of ``duration``: the part that is always elapsed time."""
    return timedelta(minutes=duration.minutes or 0, hours=duration.hours or 0)


def counts_days(duration: Duration | None) -> bool:
    """Whether ``duration`` counts (business) days, which needs the customer's zone."""
    return duration is not None and (bool(duration.days) or duration.business_days is not None)


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at the wall-clock time ``at`` in ``zone``, as an aware datetime (in ``zone``).

    Where a daylight-saving change makes that time ambiguous (01:30 on the night clocks go
    back) it is the first of the two; where it does not exist (02:30 on the night clocks jump
    from 02:00 to 03:00) it is read with the offset before the jump, which shifts it forward by
    the jump (03:30). Both are Python's ``fold=0``.
    """
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=zone)


def after(
    moment: datetime,
    duration: Duration | None,
    zone: ZoneInfo,
    calendar: BusinessCalendar | None = None,
) -> datetime:
    """``moment`` plus ``duration``.

    Days and business days are counted in the customer's zone and keep the wall-clock time
    (``days: 1`` from 10:00 the day before a daylight-saving change is 10:00 the next day, 23 or
    25 hours later; a Friday-evening ticket + 1 business day is Monday evening); see
    ``wall_clock`` for times a change makes ambiguous or skips. Hours and minutes are elapsed
    time, added after the days. Only business days need ``calendar``.
    """
    if duration is None:
        return moment
    # Elapsed time is added in UTC: an aware datetime in a zone adds to its wall clock.
    if not counts_days(duration):
        return (moment.astimezone(UTC) + fixed(duration)).astimezone(moment.tzinfo)
    local = moment.astimezone(zone)
    if duration.business_days is not None:
        assert calendar is not None, "business days are counted on the business calendar"
        day = calendar.add_working_days(local.date(), duration.business_days)
    else:
        day = local.date() + timedelta(days=duration.days or 0)
    due = wall_clock(day, local.time(), zone).astimezone(UTC) + elapsed(duration)
    return due.astimezone(moment.tzinfo)


def channels_of(send: Send) -> list[str]:
    return [send.channel] if send.channel else list(send.channels or [])
