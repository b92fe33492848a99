"""What every trigger kind is: an entry in ``kinds``, with how it evaluates a rule.

A kind is a module of this package that registers one ``TriggerKind`` (as channels and
assignment strategies register theirs); nothing elsewhere names the kinds one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from huifang.core.registry import Registry
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.rules.models import Rule
from huifang.rules.plans import Plan

from ..models import TriggerCursor


@dataclass(frozen=True)
class Scope:
    """What one evaluation of a rule knows: the time, the calendar, the rule's cursor (locked
    for the evaluation), and, in a full evaluation, the newest event to look at."""

    now: datetime
    today: date  # in the organisation's zone
    calendar: BusinessCalendar
    cursor: TriggerCursor | None
    newest_event: int | None = None


@dataclass(frozen=True)
class Evaluated:
    enrolled: int
    through: date  # the cursor's new ``evaluated_through``
    last_event_id: int | None = None  # event rules: the newest event looked at


@dataclass(frozen=True)
class TriggerKind:
    key: str
    # In a full evaluation, kinds with a lower order go first (their work is usually larger).
    order: int
    evaluate: Callable[[Rule, Plan, Scope], Evaluated]
    # Whether the scheduler should evaluate the rule now (never for kinds that react to events).
    due: Callable[[TriggerCursor | None, Scope, timedelta], bool]

    @property
    def scheduled(self) -> bool:
        return self.due is not never


kinds: Registry[TriggerKind] = Registry("trigger kinds")


def never(cursor: TriggerCursor | None, scope: Scope, every: timedelta) -> bool:
    return False


def every_few_minutes(cursor: TriggerCursor | None, scope: Scope, every: timedelta) -> bool:
    """Segments and dates: every ``SEGMENT_EVALUATION_MINUTES``."""
    return cursor is None or scope.now - cursor.evaluated_at >= every


def once_a_day(cursor: TriggerCursor | None, scope: Scope, every: timedelta) -> bool:
    return cursor is None or cursor.evaluated_through < scope.today
