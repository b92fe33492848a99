"""The ``date`` trigger: each day, customers whose date (a customer field, a custom attribute
or an event's date property) is ``offset`` away, due at ``at`` in the customer's own zone.
Today and tomorrow are looked at on every evaluation (a customer imported at 15:00 whose
birthday is tomorrow is still greeted); days missed since the last evaluation are caught up, and
anchors keep each date to one enrollment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import CharField, DateTimeField, F, Q, Value
from django.db.models.functions import Cast, Concat

from huifang.customers.models import Customer, Event
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.rules.conditions import DAY, MOMENT, compile_condition, field_spec
from huifang.rules.document import DateTrigger
from huifang.rules.models import Rule
from huifang.rules.plans import Plan, fixed

from ..lifecycle import NO_EVENT, Enrolled, enroll, schedule_first
from .base import Evaluated, Scope, TriggerKind, every_few_minutes, kinds


def _target(day: date, trigger: DateTrigger, calendar: BusinessCalendar) -> date:
    """The date a customer's date must have for the trigger to fire on ``day``."""
    offset = trigger.offset
    if offset is None:
        return day
    if offset.business_days is not None:
        if trigger.before:
            return calendar.add_working_days(day, offset.business_days)
        current, left = day, offset.business_days
        while left > 0:
            current -= timedelta(days=1)
            if calendar.is_working_day(current):
                left -= 1
        return current
    delta = timedelta(days=fixed(offset).days)
    return day + delta if trigger.before else day - delta


def _matches_date(trigger: DateTrigger, target: date, prefix: str = "") -> Q:
    name = trigger.field or ""
    if name == "birthday":  # an anniversary, every year
        q = Q(birthday__month=target.month, birthday__day=target.day)
        if target.month == 2 and target.day == 28 and not _leap(target.year):
            q |= Q(birthday__month=2, birthday__day=29)
        return q
    spec = field_spec(name)
    if spec is None:
        return Q(pk__in=[])
    if spec.kind == DAY:
        return Q(**{spec.lookup: target})
    if spec.kind == MOMENT:
        return Q(**{f"{spec.lookup}__date": target})
    return Q(**{spec.lookup: target.isoformat()})  # a custom attribute holding YYYY-MM-DD


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def evaluate_dates(
    rule: Rule, current: Plan, days: Iterable[date], now: datetime, calendar: BusinessCalendar
) -> int:
    trigger = current.document.trigger
    assert isinstance(trigger, DateTrigger)
    at = time.fromisoformat(trigger.at)
    audience = current.document.audience
    days = list(days)
    if trigger.event:
        return _evaluate_event_dates(current, trigger, days, at, now, calendar)
    count = 0
    for day in days:
        target = _target(day, trigger, calendar)

        def due(row: Enrolled, zone_: Any, day: date = day) -> datetime:
            return datetime.combine(day, at, tzinfo=zone_).astimezone(UTC)

        source = Customer.objects.filter(
            _matches_date(trigger, target) & compile_condition(audience, now=now)
        )
        enrolled = enroll(
            current,
            source,
            customer="id",
            anchor=Value(f"date:{day.isoformat()}", output_field=CharField()),
            anchor_at=Value(now, output_field=DateTimeField()),
            event=NO_EVENT,
            now=now,
        )
        schedule_first(current, enrolled, due)
        count += len(enrolled)
    return count


def _evaluate_event_dates(
    current: Plan,
    trigger: DateTrigger,
    days: list[date],
    at: time,
    now: datetime,
    calendar: BusinessCalendar,
) -> int:
    """A date property of events (``contract_ends.ends_on``): every day at once, in one pass
    over the events (the property is read per row, so one pass instead of one per day)."""
    day_of = {_target(day, trigger, calendar).isoformat(): day for day in days}
    if not day_of:
        return 0
    key = f"properties__{trigger.property}"
    source = Event.objects.filter(type=trigger.event, **{f"{key}__in": list(day_of)}).filter(
        compile_condition(current.document.audience, now=now, prefix="customer__")
    )
    enrolled = enroll(
        current,
        source,
        customer="customer_id",
        anchor=Concat(Value("date:"), Cast("id", CharField()), output_field=CharField()),
        anchor_at=Value(now, output_field=DateTimeField()),
        event=F("id"),
        now=now,
    )
    if not enrolled:
        return 0
    dates = dict(
        Event.objects.filter(pk__in=[row.event_id for row in enrolled]).values_list("id", key)
    )

    def due(row: Enrolled, zone_: Any) -> datetime:
        day = day_of[str(dates[row.event_id])]
        return datetime.combine(day, at, tzinfo=zone_).astimezone(UTC)

    schedule_first(current, enrolled, due)
    return len(enrolled)


def evaluate_date_rule(rule: Rule, current: Plan, scope: Scope) -> Evaluated:
    cursor, today = scope.cursor, scope.today
    first = cursor.evaluated_through + timedelta(days=1) if cursor else today
    first, last = min(first, today), today + timedelta(days=1)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    count = evaluate_dates(rule, current, days, scope.now, scope.calendar)
    return Evaluated(count, max(today, cursor.evaluated_through) if cursor else today)


kinds.register(TriggerKind("date", 2, evaluate_date_rule, every_few_minutes))
