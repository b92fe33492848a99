"""The ``recurring`` trigger: members of a segment every N days / weeks / months / quarters,
each customer on their own day of the period (from their id), so a large segment spreads over
the period. After downtime a customer whose day was missed gets one turn, not one per missed
period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import F, Q, Value
from django.db.models.functions import Mod

from huifang.customers.models import Customer
from huifang.rules.conditions import compile_condition
from huifang.rules.document import RecurringTrigger
from huifang.rules.models import Rule
from huifang.rules.plans import Plan

from ..lifecycle import enroll_now
from .base import Evaluated, Scope, TriggerKind, kinds, once_a_day


def period_days(trigger: RecurringTrigger) -> int:
    unit, n = next(iter(trigger.every.items()))
    return {"days": 1, "weeks": 7, "months": 28, "quarters": 84}[unit] * n


def _on_day(trigger: RecurringTrigger, day: date) -> Q:
    """Customers whose turn in the period falls on ``day`` (each on their own day)."""
    unit, n = next(iter(trigger.every.items()))
    if unit in ("days", "weeks"):
        size = n * (7 if unit == "weeks" else 1)
        return Q(v_phase=day.toordinal() % size)
    months = n * (3 if unit == "quarters" else 1)
    if day.day > 28:  # customers' days are the 1st–28th of a month
        return Q(pk__in=[])
    month_index = (day.year * 12 + day.month - 1) % months
    return Q(v_phase=(day.day - 1) + 28 * month_index)


def _phase(trigger: RecurringTrigger) -> Any:
    unit, n = next(iter(trigger.every.items()))
    if unit in ("days", "weeks"):
        return Mod(F("id"), Value(n * (7 if unit == "weeks" else 1)))
    months = n * (3 if unit == "quarters" else 1)
    return Mod(F("id"), Value(28 * months))


def evaluate_recurring(rule: Rule, current: Plan, days: Sequence[date], now: datetime) -> int:
    trigger = current.document.trigger
    assert isinstance(trigger, RecurringTrigger)
    # After downtime a customer whose day was missed gets one turn, not one per missed period.
    days = list(days)[-period_days(trigger) :]
    turn = Q(pk__in=[])
    for day in days:
        turn |= _on_day(trigger, day)
    source = (
        Customer.objects.filter(
            compile_condition(trigger.where, now=now)
            & compile_condition(current.document.audience, now=now)
        )
        .annotate(v_phase=_phase(trigger))
        .filter(turn)
    )
    anchor = f"recurring:{days[-1].isoformat()}" if days else "recurring"
    return enroll_now(current, source, customer="id", anchor=anchor, now=now)


def evaluate_recurring_rule(rule: Rule, current: Plan, scope: Scope) -> Evaluated:
    cursor, today = scope.cursor, scope.today
    first = cursor.evaluated_through + timedelta(days=1) if cursor else today
    days = [first + timedelta(days=n) for n in range((today - first).days + 1)]
    count = evaluate_recurring(rule, current, days, scope.now)
    return Evaluated(count, max(today, cursor.evaluated_through) if cursor else today)


kinds.register(TriggerKind("recurring", 3, evaluate_recurring_rule, once_a_day))
