"""Triggers: who enters which rule, when — and the events that end or move a running plan.

Every trigger kind enrolls set-based: one ``INSERT … SELECT … ON CONFLICT DO NOTHING
RETURNING`` per rule over the customers (or events) that match, so evaluating a rule is a
single query however many customers there are, and the unique keys on enrollments (one per
rule, customer and trigger anchor; one active per rule and customer) make every evaluation
idempotent: running one twice, or in two workers at once, never enrolls anyone twice.

- ``event``: events as they arrive (``on_events``, inside the ingesting transaction).
- ``date``: each day, customers whose date (a customer field, a custom attribute or an event's
  date property) is ``offset`` away, due at ``at`` in the customer's own time zone.
- ``segment``: customers who *enter* the segment (kept in ``SegmentMember``); leaving and
  entering again enrolls again, after ``reenroll_after``.
- ``recurring``: members of a segment every N days / weeks / months / quarters, each customer
  on their own day of the period (from their id), so a large segment spreads over the period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    CharField,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast, Concat, Mod
from django.utils.dateparse import parse_datetime

from huifang.core.rows import insert, set_based, update
from huifang.core.statements import compiled
from huifang.customers.event_types import event_types
from huifang.customers.models import Customer, Event
from huifang.messaging.models import Message, Reason
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.zones import local_date, zone, zones_changing
from huifang.rules.conditions import DAY, MOMENT, compile_condition, field_spec
from huifang.rules.document import (
    DateTrigger,
    Duration,
    EventTrigger,
    RecurringTrigger,
    SegmentTrigger,
)
from huifang.rules.models import Rule
from huifang.rules.plans import Plan, after, counts_days, fixed, plan

from .models import DueStep, Enrollment, SegmentMember, TriggerCursor

ENROLLMENT = Enrollment._meta.db_table
# A typed NULL: PostgreSQL reads a bare NULL in a sub-select as text, which a bigint refuses.
NO_EVENT = Cast(Value(None), output_field=BigIntegerField())
COLUMNS = [
    "rule_id",
    "version_id",
    "customer_id",
    "anchor",
    "anchor_at",
    "event_id",
    "status",
    "step",
    "waiting",
    "started_at",
    "end_reason",
]


@dataclass(frozen=True)
class Enrolled:
    id: int
    customer_id: int
    anchor_at: datetime
    event_id: int | None = None


def active_rules(*kinds: str) -> list[tuple[Rule, Plan]]:
    result = []
    for rule in Rule.objects.filter(status=Rule.Status.ACTIVE, current_version__isnull=False):
        assert rule.current_version_id is not None
        current = plan(rule.current_version_id)
        if not kinds or current.document.trigger.kind in kinds:
            result.append((rule, current))
    return result


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = parse_datetime(str(value))
    assert parsed is not None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def enroll(
    current: Plan,
    source: QuerySet[Any],
    *,
    customer: str,
    anchor: Any,
    anchor_at: Any,
    event: Any,
    now: datetime,
    returning: bool = True,
) -> list[Enrolled]:
    """Enroll every row of ``source`` (customers or events) that may enter, in one statement."""
    statement = enroll_statement(
        current,
        source,
        customer=customer,
        anchor=anchor,
        anchor_at=anchor_at,
        event=event,
        now=now,
        returning=returning,
    )
    return run_enroll(statement, now, returning=returning)


def enroll_statement(
    current: Plan,
    source: QuerySet[Any],
    *,
    customer: str,
    anchor: Any,
    anchor_at: Any,
    event: Any,
    now: datetime,
    returning: bool = True,
) -> tuple[str, Sequence[Any]] | None:
    """The ``INSERT … SELECT`` enrolling every row of ``source`` (customers or events) that
    may enter; ``None`` when no row can.

    ``customer`` names the customer id column of ``source``; ``anchor``, ``anchor_at`` and
    ``event`` are expressions over it. Customers with an active enrollment in the rule, or one
    started within ``reenroll_after``, are left out.
    """
    rule_id = current.rule_id
    busy = Q(status=Enrollment.Status.ACTIVE)
    again = current.document.policy.reenroll_after
    if again is not None:
        busy |= Q(started_at__gte=now - fixed(again))
    source = source.filter(
        ~Exists(Enrollment.objects.filter(busy, rule_id=rule_id, customer_id=OuterRef(customer)))
    )
    rows = source.values(
        v_rule=Value(rule_id, output_field=IntegerField()),
        v_version=Value(current.version_id, output_field=IntegerField()),
        v_customer=F(customer),
        v_anchor=anchor,
        v_anchor_at=anchor_at,
        v_event=event,
        v_status=Value(Enrollment.Status.ACTIVE, output_field=CharField()),
        v_step=Value(current.first_step, output_field=CharField()),
        v_waiting=Value("", output_field=CharField()),
        v_started=Value(now, output_field=DateTimeField()),
        v_reason=Value("", output_field=CharField()),
    )
    try:
        select, params = rows.query.sql_with_params()
    except EmptyResultSet:  # a condition no row can meet, e.g. nobody's turn on the 30th
        return None
    sql = (
        f"INSERT INTO {ENROLLMENT} ({', '.join(COLUMNS)}) "  # noqa: S608 - our own names
        f"SELECT * FROM ({select}) source WHERE true "
        "ON CONFLICT DO NOTHING"
    )
    if returning:
        sql += " RETURNING id, customer_id, anchor_at, event_id"
    return sql, params


def run_enroll(
    statement: tuple[str, Sequence[Any]] | None, now: datetime, *, returning: bool = True
) -> list[Enrolled]:
    if statement is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(*statement)
        if not returning:
            return [Enrolled(0, 0, now)] * max(cursor.rowcount, 0)
        return [Enrolled(i, c, _aware(a), e) for i, c, a, e in cursor.fetchall()]


def schedule_first(
    current: Plan,
    enrolled: Sequence[Enrolled],
    due: Any,
    *,
    paused: bool = False,
    zones: bool = True,
) -> None:
    """The first due step of each new enrollment; ``due(row, zone)`` says when (``zones``:
    whether it needs the customer's time zone at all)."""
    if not enrolled:
        return
    known = (
        dict(
            Customer.objects.filter(pk__in={e.customer_id for e in enrolled}).values_list(
                "id", "time_zone"
            )
        )
        if zones
        else {}
    )
    status = DueStep.Status.PAUSED if paused else DueStep.Status.DUE
    insert(
        [
            DueStep(
                enrollment_id=row.id,
                kind=DueStep.Kind.RUN,
                step=current.first_step,
                due_at=due(row, zone(known.get(row.customer_id))),
                status=status,
            )
            for row in enrolled
        ]
    )


def schedule_first_in_sql(
    current: Plan, started: datetime, due: Any, *, paused: bool = False
) -> int:
    """The first due step of every enrollment the evaluation at ``started`` just made, in one
    ``INSERT … SELECT`` (``due`` is an expression over the enrollment, e.g. its anchor time
    plus the delay): nothing travels through Python, however many customers entered."""
    fresh = Enrollment.objects.filter(
        rule_id=current.rule_id, started_at=started, status=Enrollment.Status.ACTIVE
    ).filter(~Exists(DueStep.objects.filter(enrollment_id=OuterRef("id"))))
    rows = fresh.values(
        v_enrollment=F("id"),
        v_kind=Value(DueStep.Kind.RUN, output_field=CharField()),
        v_step=Value(current.first_step, output_field=CharField()),
        v_due=ExpressionWrapper(due, output_field=DateTimeField()),
        v_status=Value(
            DueStep.Status.PAUSED if paused else DueStep.Status.DUE, output_field=CharField()
        ),
        v_claimed_by=Value("", output_field=CharField()),
        v_claims=Value(0, output_field=IntegerField()),
    )
    select, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DueStep._meta.db_table} "  # noqa: S608 - our own names
            "(enrollment_id, kind, step, due_at, status, claimed_by, claims) "
            f"SELECT * FROM ({select}) source WHERE true",
            params,
        )
        return int(cursor.rowcount)


# -- events --------------------------------------------------------------------------------


def on_events(events: Sequence[Event], now: datetime) -> None:
    """React to newly stored events: end or move running plans, then enroll event triggers.

    Runs inside the transaction that stores the events, so an exit takes effect the moment the
    event is committed (well within a second) and nothing is enrolled for an event that is not.
    """
    if not events:
        return
    react(events, now)
    types = {event.type for event in events}
    ids = [event.pk for event in events]
    for rule, current in active_rules("event"):
        trigger = current.document.trigger
        assert isinstance(trigger, EventTrigger)
        if trigger.event not in types:
            continue
        enroll_events(rule, current, Event.objects.none(), now, few=ids)


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
) -> list[Enrolled]:
    """Enroll the customers of ``events`` that the rule's event trigger accepts.

    ``few``: instead of ``events``, the ids of a handful of events just ingested. Their
    statement is compiled once per rule version (``statements``), and the new rows are fetched
    back and scheduled from Python, quicker than composing a second statement. Otherwise (a
    full evaluation) the first steps are scheduled in SQL, however many there are.
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
        zones = dict(
            Customer.objects.filter(pk__in={e.customer_id for e in enrolled}).values_list(
                "id", "time_zone"
            )
        )
        dues = {
            row.id: after(row.anchor_at, delay, zone(zones.get(row.customer_id)), days)
            for row in enrolled
        }
        # The horizon above is generous for business days, and elapsed for days (a day can
        # be 23 hours long); the exact due time decides.
        stale = {pk for pk, at in dues.items() if at < now - current.grace}
        if stale:
            Enrollment.objects.filter(pk__in=stale).delete()
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
    ids = list(moved)
    for first in range(0, len(ids), 10_000):  # within any database's limit of parameters
        steps = DueStep.objects.filter(
            enrollment_id__in=ids[first : first + 10_000],
            kind=DueStep.Kind.RUN,
            step=current.first_step,
        ).values_list("id", "enrollment_id")
        update(DueStep._meta.db_table, ["due_at"], [(pk, moved[e]) for pk, e in steps])
    if stale:
        Enrollment.objects.filter(pk__in=stale).delete()
    return len(stale)


def react(events: Sequence[Event], now: datetime) -> None:
    """Exit events end plans (and cancel their pending steps); replies move waiting plans."""
    by_customer: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        by_customer[event.customer_id].append(event)
    running = Enrollment.objects.filter(
        customer_id__in=list(by_customer), status=Enrollment.Status.ACTIVE
    ).only("rule_id", "version_id", "customer_id", "anchor_at", "event_id", "step", "waiting")
    exits: dict[str, list[int]] = defaultdict(list)
    replies: list[tuple[Enrollment, Plan]] = []
    for enrollment in running:
        current = plan(enrollment.version_id)
        mine = [
            e
            for e in by_customer[enrollment.customer_id]
            if e.pk != enrollment.event_id and e.occurred_at >= enrollment.anchor_at
        ]
        leaving = next((e for e in mine if e.type in current.exit_on), None)
        if leaving is not None:
            exits[f"event:{leaving.type}"].append(enrollment.pk)
        elif enrollment.waiting == Enrollment.Waiting.REPLY and any(
            _is_reply(e.type) for e in mine
        ):
            replies.append((enrollment, current))
    for reason, ids in exits.items():
        end_enrollments(ids, Enrollment.Status.EXITED, reason, now)
    if replies:
        answer(replies, now)


def _is_reply(kind: str) -> bool:
    entry = event_types.get(kind)
    return bool(entry and entry.is_reply)


def end_enrollments(ids: Sequence[int], status: str, reason: str, now: datetime) -> int:
    """End plans and cancel everything they still had pending."""
    if not ids:
        return 0
    ended = Enrollment.objects.filter(pk__in=ids, status=Enrollment.Status.ACTIVE).update(
        status=status, end_reason=reason, ended_at=now, waiting=""
    )
    DueStep.objects.filter(
        enrollment_id__in=ids, status__in=[DueStep.Status.DUE, DueStep.Status.PAUSED]
    ).update(status=DueStep.Status.CANCELLED, done_at=now)
    Message.objects.filter(enrollment_id__in=ids, status=Message.Status.DEFERRED).update(
        status=Message.Status.CANCELLED, reason=Reason.ENDED, deferred_until=None
    )
    return ended


def answer(replies: Sequence[tuple[Enrollment, Plan]], now: datetime) -> None:
    """The customer replied while a step waited for it: follow a matching branch, else stop,
    continue, or go to the step ``on_reply`` names."""
    from .runner import branch_target

    done, moves = [], []
    for enrollment, current in replies:
        step = current.steps.get(enrollment.step)
        if step is None:
            done.append(enrollment.pk)
            continue
        # A branch decides first (a low survey score → a call); otherwise on_reply.
        target = branch_target(enrollment.customer_id, step, now)
        if target is None and step.on_reply == "stop":
            done.append(enrollment.pk)
            continue
        if target is None:
            target = current.following(step.id) if step.on_reply == "continue" else step.on_reply
        if target is None:
            done.append(enrollment.pk)
        else:
            moves.append((enrollment, target))
    end_enrollments(done, Enrollment.Status.COMPLETED, "replied", now)
    if moves:
        ids = [enrollment.pk for enrollment, _t in moves]
        DueStep.objects.filter(
            enrollment_id__in=ids,
            kind=DueStep.Kind.TIMEOUT,
            status__in=[DueStep.Status.DUE, DueStep.Status.PAUSED],
        ).update(status=DueStep.Status.CANCELLED, done_at=now)
        for enrollment, target in moves:
            Enrollment.objects.filter(pk=enrollment.pk).update(step=target, waiting="")
        DueStep.objects.bulk_create(
            [
                DueStep(enrollment_id=e.pk, kind=DueStep.Kind.RUN, step=target, due_at=now)
                for e, target in moves
            ]
        )


# -- scheduled triggers: date, segment, recurring ----------------------------------------------


def local_today(now: datetime) -> date:
    return local_date(now)


def evaluate(rule: Rule, now: datetime, *, calendar: BusinessCalendar | None = None) -> int:
    """Evaluate a rule's scheduled trigger once; returns how many customers it enrolled."""
    assert rule.current_version_id is not None
    current = plan(rule.current_version_id)
    kind = current.document.trigger.kind
    calendar = calendar or BusinessCalendar.load()
    with transaction.atomic():
        cursor = TriggerCursor.objects.select_for_update().filter(rule=rule).first()
        if kind == "segment":
            count = evaluate_segment(rule, current, now, first=cursor is None)
            through = local_today(now)
        else:
            today = local_today(now)
            first = cursor.evaluated_through + timedelta(days=1) if cursor else today
            if kind == "date":
                # Today and tomorrow are looked at on every evaluation (a customer imported
                # at 15:00 whose birthday is tomorrow is still greeted); days missed since the
                # last evaluation are caught up. Anchors keep each date to one enrollment.
                first, last = min(first, today), today + timedelta(days=1)
            else:
                last = today
            days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
            if kind == "date":
                count = evaluate_dates(rule, current, days, now, calendar)
            else:
                count = evaluate_recurring(rule, current, days, now)
            through = max(today, cursor.evaluated_through) if cursor else today
        TriggerCursor.objects.update_or_create(
            rule=rule, defaults={"evaluated_through": through, "evaluated_at": now}
        )
    return count


def evaluate_segment(rule: Rule, current: Plan, now: datetime, *, first: bool = False) -> int:
    """Record who is in the segment now; enroll those who entered since the last evaluation.

    On a rule's first evaluation everyone inside is new to the table, but they did not *enter*:
    they are recorded without being enrolled, unless the trigger says ``include_existing``.
    """
    trigger = current.document.trigger
    assert isinstance(trigger, SegmentTrigger)
    members = Customer.objects.filter(
        compile_condition(getattr(trigger, "where", None), now=now)
        & compile_condition(current.document.audience, now=now)
    )
    # NOT EXISTS, not NOT IN: PostgreSQL turns NOT IN over a large sub-select that does not
    # fit work_mem into a nested loop (minutes at a million customers), NOT EXISTS into a
    # hashed anti-join.
    SegmentMember.objects.filter(rule=rule).exclude(
        Exists(members.filter(pk=OuterRef("customer_id")))
    ).delete()
    entering = members.filter(
        ~Exists(SegmentMember.objects.filter(rule=rule, customer_id=OuterRef("id")))
    ).values(
        v_rule=Value(rule.pk, output_field=IntegerField()),
        v_customer=F("id"),
        v_at=Value(now, output_field=DateTimeField()),
    )
    # Rows added by this evaluation are the ones with a higher id than any before it.
    before = SegmentMember.objects.aggregate(m=Max("id"))["m"] or 0
    select, params = entering.query.sql_with_params()
    table = SegmentMember._meta.db_table
    # Both sides are the whole segment: a hash anti-join, whatever the statistics say.
    with set_based(), connection.cursor() as db:
        db.execute(
            f"INSERT INTO {table} (rule_id, customer_id, entered_at) "  # noqa: S608
            f"SELECT * FROM ({select}) source WHERE true ON CONFLICT DO NOTHING",
            params,
        )
    if first and not trigger.include_existing:
        return 0
    entered = SegmentMember.objects.filter(rule=rule, pk__gt=before)
    anchor = f"segment:{now:%Y-%m-%dT%H:%M:%S}"
    return enroll_now(current, entered, customer="customer_id", anchor=anchor, now=now)


def enroll_now(
    current: Plan, source: QuerySet[Any], *, customer: str, anchor: str, now: datetime
) -> int:
    """Enroll customers whose first step is due at once (segment entry, a recurring turn)."""
    enrolled = enroll(
        current,
        source,
        customer=customer,
        anchor=Value(anchor, output_field=CharField()),
        anchor_at=Value(now, output_field=DateTimeField()),
        event=NO_EVENT,
        now=now,
        returning=False,
    )
    if enrolled:
        schedule_first_in_sql(current, now, Value(now))
    return len(enrolled)


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


def evaluate_all(now: datetime) -> dict[str, int]:
    """Every active rule over all customers at once (``huifang engine --once``, benchmarks).

    Scheduled rules as the scheduler would, forced. Event rules enroll as events arrive; here
    they also look at the events stored since their last full evaluation — on the first one,
    every event still young enough to act on (a backfill after activation). Idempotent: a
    second pass enrolls no one. Rules are evaluated side by side (``in_parallel``).
    """
    calendar = BusinessCalendar.load()
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0

    def one(rule: Rule, current: Plan) -> int:
        if current.document.trigger.kind != "event":
            return evaluate(rule, now, calendar=calendar)
        return _evaluate_event_rule(rule, current, now, calendar, newest)

    return in_parallel(one, active_rules())


def _evaluate_event_rule(
    rule: Rule, current: Plan, now: datetime, calendar: BusinessCalendar, newest: int
) -> int:
    with transaction.atomic():
        cursor = TriggerCursor.objects.select_for_update().filter(rule=rule).first()
        events = Event.objects.filter(pk__lte=newest)
        if cursor is not None and cursor.last_event_id is not None:
            events = events.filter(pk__gt=cursor.last_event_id)
        count = len(enroll_events(rule, current, events, now, calendar))
        TriggerCursor.objects.update_or_create(
            rule=rule,
            defaults={
                "evaluated_through": local_today(now),
                "evaluated_at": now,
                "last_event_id": newest,
            },
        )
    return count


def in_parallel(
    evaluate_one: Callable[[Rule, Plan], int], rules: Sequence[tuple[Rule, Plan]]
) -> dict[str, int]:
    """Run ``evaluate_one`` for each rule; returns the counts by rule key.

    On PostgreSQL, outside a transaction, rules are evaluated side by side on
    ``ENGINE_EVALUATION_THREADS`` connections: each rule's evaluation is a few large statements
    in a transaction of its own, touching only that rule's rows, so the database can run them
    on as many cores as it has. Event rules go first: their backfill is usually the largest.
    SQLite has one writer at a time, and inside a transaction (tests, simulation) the work must
    see the transaction's own rows: there, rules go one after the other.
    """
    order = {"event": 0, "segment": 1, "date": 2, "recurring": 3}
    rules = sorted(rules, key=lambda pair: order.get(pair[1].document.trigger.kind, 4))
    threads = min(settings.HUIFANG_EVALUATION_THREADS, len(rules))
    if threads <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
        return {rule.key: evaluate_one(rule, current) for rule, current in rules}

    def run(pair: tuple[Rule, Plan]) -> tuple[str, int]:
        try:
            return pair[0].key, evaluate_one(*pair)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="evaluate") as pool:
        return dict(pool.map(run, rules))


def evaluate_scheduled(now: datetime, *, force: bool = False) -> dict[str, int]:
    """Evaluate every active date / segment / recurring rule that is due for it."""
    calendar = BusinessCalendar.load()
    today = local_today(now)
    cursors = {c.rule_id: c for c in TriggerCursor.objects.all()}
    every = timedelta(minutes=settings.HUIFANG_SEGMENT_MINUTES)
    due = []
    for rule, current in active_rules("date", "segment", "recurring"):
        cursor = cursors.get(rule.pk)
        kind = current.document.trigger.kind
        if not force and cursor is not None:
            if kind in ("segment", "date") and now - cursor.evaluated_at < every:
                continue
            if kind == "recurring" and cursor.evaluated_through >= today:
                continue
        due.append((rule, current))
    return in_parallel(lambda rule, _current: evaluate(rule, now, calendar=calendar), due)
