"""The ``event`` trigger: customers enter as their events arrive (``on_events``, inside the
ingesting transaction); a full evaluation also looks at the events stored since the last one
(on the first, every event still young enough to act on: a backfill after activation)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import CharField, F, Max, Min, QuerySet, Value
from django.db.models.functions import Cast, Concat

from huifang.core.statements import compiled
from huifang.customers.models import Customer, Event
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.zones import zone, zones_changing
from huifang.rules.conditions import compile_condition
from huifang.rules.document import Duration, EventTrigger
from huifang.rules.models import Rule
from huifang.rules.plans import Plan, after, counts_days, fixed

from .. import lifecycle
from ..lifecycle import (
    Enrolled,
    enroll_statement,
    run_enroll,
    schedule_first,
    schedule_first_in_sql,
)
from ..models import Enrollment
from .base import Evaluated, Scope, TriggerKind, kinds, never


def event_statement(
    current: Plan, at: datetime, events: QuerySet[Event], *, returning: bool = True
) -> tuple[str, Sequence[Any]] | None:
    """The statement enrolling the customers of ``events`` that the rule's trigger accepts at
    ``at``."""
    trigger = current.document.trigger
    assert isinstance(trigger, EventTrigger)
    delay = trigger.delay
    # An event so old that its first step would be missed anyway enrolls no one (an import of
    # last year's orders must not fill the outbox with missed messages). Business days are
    # bounded generously: a week of five working days plus a fortnight of holidays.
    if delay is not None and delay.business_days is not None:
        longest = timedelta(days=delay.business_days * 7 / 5 + 14)
    else:
        longest = fixed(delay) if delay else timedelta(0)
    horizon = at - current.grace - longest
    source = events.filter(type=trigger.event, occurred_at__gte=horizon).filter(
        compile_condition(trigger.where, now=at, events=True, prefix="customer__")
        & compile_condition(current.document.audience, now=at, prefix="customer__")
    )
    return enroll_statement(
        current,
        source,
        customer="customer_id",
        anchor=Concat(Value("event:"), Cast("id", CharField()), output_field=CharField()),
        anchor_at=F("occurred_at"),
        event=F("id"),
        now=at,
        returning=returning,
    )


def enroll_events(
    rule: Rule,
    current: Plan,
    events: QuerySet[Event],
    now: datetime,
    calendar: BusinessCalendar | None = None,
    *,
    few: Sequence[int] | None = None,
    zones: dict[int, str] | None = None,
) -> list[Enrolled]:
    """Enroll the customers of ``events`` that the rule's event trigger accepts.

    ``few``: instead of ``events``, the ids of a handful of events just ingested. Their
    statement is compiled once per rule version (``statements``), and the new rows are fetched
    back and scheduled from Python, quicker than composing a second statement. Otherwise (a
    full evaluation) the first steps are scheduled in SQL, however many there are.
    ``zones``: the customers' time zones read so far by the caller, filled in here, so the
    rules reacting to one event read the customer's zone once between them.
    """
    trigger = current.document.trigger
    assert isinstance(trigger, EventTrigger)
    delay = trigger.delay
    in_sql = few is None and (delay is None or delay.business_days is None)
    if few is not None:
        sql = compiled(
            ("enroll-events", current.version_id),
            lambda at, ids: event_statement(current, at, Event.objects.filter(pk__in=ids)),
            now,
            few,
        )
    else:
        sql = event_statement(current, now, events, returning=not in_sql)
    enrolled = run_enroll(sql, now, returning=not in_sql)
    paused = rule.status == Rule.Status.PAUSED
    if in_sql:
        if enrolled:
            plus = fixed(delay) if delay else timedelta(0)
            schedule_first_in_sql(current, now, F("anchor_at") + Value(plus), paused=paused)
            if delay is not None and delay.days:
                dropped = keep_wall_clock(current, now, delay)
                enrolled = enrolled[: len(enrolled) - dropped]
        return enrolled
    if counts_days(delay):
        assert delay is not None
        days = None
        if delay.business_days is not None:
            days = calendar or BusinessCalendar.load()
        zones = {} if zones is None else zones
        if missing := {e.customer_id for e in enrolled} - zones.keys():
            zones.update(Customer.objects.filter(pk__in=missing).values_list("id", "time_zone"))
        dues = {
            row.id: after(row.anchor_at, delay, zone(zones.get(row.customer_id)), days)
            for row in enrolled
        }
        # The horizon above is generous for business days, and elapsed for days (a day can
        # be 23 hours long); the exact due time decides.
        stale = {pk for pk, at in dues.items() if at < now - current.grace}
        if stale:
            lifecycle.discard(list(stale))
            enrolled = [row for row in enrolled if row.id not in stale]
        schedule_first(
            current, enrolled, lambda row, zone_: dues[row.id], paused=paused, zones=False
        )
    else:
        plus = fixed(delay) if delay else timedelta(0)
        schedule_first(
            current, enrolled, lambda row, zone_: row.anchor_at + plus, paused=paused, zones=False
        )
    return enrolled


def keep_wall_clock(current: Plan, started: datetime, delay: Duration) -> int:
    """Count the days of ``delay`` in each customer's zone for the first steps that
    ``schedule_first_in_sql`` just scheduled at the anchor plus ``delay`` as elapsed time.

    Elapsed days are right wherever the zone keeps its UTC offset from the anchor to the due
    time: for most customers (Asia/Shanghai) always. Only the enrollments of customers in a zone
    whose offset changes in that span are read back and moved to the same wall-clock time N
    local days later (``after``); one whose step that makes older than the misfire grace is
    dropped, as if its event had been too old. Returns how many were dropped.
    """
    fresh = Enrollment.objects.filter(rule_id=current.rule_id, started_at=started)
    plus = fixed(delay)
    span = fresh.aggregate(first=Min("anchor_at"), last=Max("anchor_at"))
    if span["first"] is None:
        return 0
    changing = zones_changing(
        span["first"].astimezone(UTC).date(),
        (span["last"] + plus).astimezone(UTC).date() + timedelta(days=2),
    )
    if not changing:
        return 0
    found = fresh.filter(customer__time_zone__in=sorted(changing))
    moved, stale = {}, []
    for pk, anchor_at, name in found.values_list("id", "anchor_at", "customer__time_zone"):
        due = after(anchor_at, delay, zone(name))
        if due < started - current.grace:
            stale.append(pk)
        elif due != anchor_at + plus:
            moved[pk] = due
    lifecycle.move_first_steps(moved, current.first_step)
    lifecycle.discard(stale)
    return len(stale)


def evaluate_events(rule: Rule, current: Plan, scope: Scope) -> Evaluated:
    """The events stored since the rule's last full evaluation, up to the newest one."""
    newest = scope.newest_event
    if newest is None:
        newest = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    events = Event.objects.filter(pk__lte=newest)
    if scope.cursor is not None and scope.cursor.last_event_id is not None:
        events = events.filter(pk__gt=scope.cursor.last_event_id)
    count = len(enroll_events(rule, current, events, scope.now, scope.calendar))
    return Evaluated(count, scope.today, last_event_id=newest)


kinds.register(TriggerKind("event", 0, evaluate_events, never))
