"""The lifecycle of rules and plans: the engine's one place for what starts, pauses, moves and
ends them, and the only code that writes enrollments, due steps and trigger cursors.

Trigger kinds (``triggers/``) decide *who* enters a rule and *when* their first step is due; the
runner decides what each due step does; both hand the writing to the functions here: ``enroll``
and ``enroll_now`` (one set-based ``INSERT … SELECT`` however many customers), ``schedule_first``
and ``schedule_first_in_sql``, ``move_first_steps``, ``discard``, ``end_enrollments``,
``move_to``, ``advance_cursor`` and ``write_batch`` (a processed batch's progress). Claiming due
steps with a lease is the runner's work-queue mechanics (``runner.claim``), not a change of plan.

Activating a version (with what happens to customers part-way through), rolling back, pausing,
resuming and archiving rules, an agent starting a rule for a customer, and consent withdrawn
cancelling the retries of messages: studio pages, the ``huifang rules`` command, strategy sets
and the hooks of lower apps (``customers.consent.withdrawn``, ``tasks.outcomes.start_rule``)
all come here. The rule's own record of each change (``RuleChange``) is written by
``huifang.rules.services.record``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from huifang.core import rows
from huifang.core.rows import insert
from huifang.customers.models import Customer, Event
from huifang.messaging.models import Message, Reason
from huifang.organisation.zones import local_date, zone
from huifang.rules.models import Rule, RuleChange, RuleVersion
from huifang.rules.plans import Plan, fixed, plan
from huifang.rules.services import record

from .models import DueStep, Enrollment, TriggerCursor

ENROLLMENT = Enrollment._meta.db_table


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
        status=Message.Status.CANCELLED, reason=Reason.ENDED, deferred_until=None, changed_at=now
    )
    return ended


def rewind(start: datetime, *, events: QuerySet[Event]) -> None:
    """A simulation's sandbox (a transaction that is rolled back) taken back to ``start``: the
    plans started since, or by ``events`` (which will arrive again), are gone; steps that were
    due before it are cancelled; every trigger was last evaluated the day before."""
    Enrollment.objects.filter(event__in=events).delete()
    Enrollment.objects.filter(started_at__gte=start).delete()
    DueStep.objects.filter(status=DueStep.Status.DUE, due_at__lt=start).update(
        status=DueStep.Status.CANCELLED
    )
    day_before = local_date(start) - timedelta(days=1)
    TriggerCursor.objects.update(evaluated_through=day_before, evaluated_at=start)


def discard(ids: Sequence[int]) -> None:
    """Enrollments just made whose first step would already be past the misfire grace: undone,
    as if their trigger had been too old to act on (they were never seen by anyone)."""
    if ids:
        Enrollment.objects.filter(pk__in=ids).delete()


def move_first_steps(moved: dict[int, datetime], step: str) -> None:
    """The first due steps of these enrollments (by enrollment id) moved to new times."""
    ids = list(moved)
    for first in range(0, len(ids), 10_000):  # within any database's limit of parameters
        steps = DueStep.objects.filter(
            enrollment_id__in=ids[first : first + 10_000], kind=DueStep.Kind.RUN, step=step
        ).values_list("id", "enrollment_id")
        rows.update(DueStep._meta.db_table, ["due_at"], [(pk, moved[e]) for pk, e in steps])


def move_to(moves: Sequence[tuple[Enrollment, str]], now: datetime) -> None:
    """Waiting plans moved on to another step now (a reply that answers a waiting step): the
    wait's time-out is cancelled and the step is due at once."""
    if not moves:
        return
    ids = [enrollment.pk for enrollment, _target in moves]
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


_UNCHANGED: Any = object()


def advance_cursor(
    rule: Rule, *, through: date, now: datetime, last_event_id: int | None = _UNCHANGED
) -> None:
    """How far the rule's trigger has been evaluated: days up to ``through`` (and, for event
    rules' full evaluations, the newest event looked at)."""
    defaults: dict[str, Any] = {"evaluated_through": through, "evaluated_at": now}
    if last_event_id is not _UNCHANGED:
        defaults["last_event_id"] = last_event_id
    TriggerCursor.objects.update_or_create(rule=rule, defaults=defaults)


@dataclass(frozen=True)
class Progress:
    """Where a processed enrollment stands after a batch (the runner's ``Live`` rows)."""

    pk: int
    status: str
    step: str
    waiting: str
    end_reason: str


def write_batch(
    now: datetime,
    *,
    missed: Sequence[int],
    ended: Sequence[int],
    scheduled: list[DueStep],
    progress: Iterable[Progress],
) -> None:
    """A processed batch's changes to plans, in a handful of set-based statements: due steps
    past their misfire grace marked missed, the pending steps of ended plans cancelled, the next
    due steps inserted, and each enrollment's step, status and wait."""
    table = DueStep._meta.db_table
    if missed:
        where, params = rows.id_in("id", list(missed))
        rows.execute(f"UPDATE {table} SET status = 'missed' WHERE {where}", params)  # noqa: S608
    if ended:
        where, params = rows.id_in("enrollment_id", list(ended))
        rows.execute(
            f"UPDATE {table} SET status = 'cancelled', done_at = %s "  # noqa: S608
            f"WHERE status IN ('due', 'paused') AND {where}",
            [_sql_time(now), *params],
        )
        gone = set(ended)
        scheduled = [d for d in scheduled if d.enrollment_id not in gone]
    for due in scheduled:  # deferred messages have their ids now
        if due.message is not None:
            due.message_id = due.message.pk
    insert(scheduled)
    groups: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
    for row in progress:
        groups[(row.status, row.step, row.waiting, row.end_reason)].append(row.pk)
    for (status, step, waiting, reason), ids in groups.items():
        where, params = rows.id_in("id", ids)
        if status == Enrollment.Status.ACTIVE:
            sets, values = "", []
        else:
            sets, values = ", end_reason = %s, ended_at = %s", [reason, _sql_time(now)]
        rows.execute(
            f"UPDATE {ENROLLMENT} SET status = %s, step = %s, waiting = %s"  # noqa: S608
            f"{sets} WHERE {where}",
            [status, step, waiting, *values, *params],
        )


def _sql_time(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


class InFlight:
    """What happens to customers part-way through a rule when a new version is activated."""

    KEEP = "keep"  # stay on the version they started on (the default)
    MOVE = "move"  # continue on the new version from their next step
    END = "end"  # end their plans now

    choices = (KEEP, MOVE, END)


def activate(
    rule: Rule,
    version: RuleVersion,
    *,
    in_flight: str = InFlight.KEEP,
    now: Any = None,
    actor: Any = None,
    comment: str = "",
    action: str = RuleChange.Action.ACTIVATED,
) -> int:
    """Make ``version`` the one that runs; returns how many running plans were moved or ended.

    New enrollments always start on the running version. Running ones stay pinned to theirs
    unless ``in_flight`` says otherwise; history (messages, tasks, finished plans) is never
    rewritten.
    """
    if version.rule_id != rule.pk:
        raise ValueError(f"{version} does not belong to {rule}")
    if in_flight not in InFlight.choices:
        raise ValueError(f"in_flight must be one of {', '.join(InFlight.choices)}")
    # A version stored before its fields were refused (DESIGN.md: nothing off the allow-list
    # runs) is not made current: nothing is written, and the error names the place.
    if (problem := plan(version.pk).problem) is not None:
        raise problem
    now = now or timezone.now()
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
        was_paused = rule.status == Rule.Status.PAUSED
        rule.current_version = version
        if not was_paused:
            rule.status = Rule.Status.ACTIVE
        rule.save(update_fields=["current_version", "status", "updated_at"])
        record(rule, action, version=version, actor=actor, comment=comment, in_flight=in_flight)
        if rule.status == Rule.Status.ACTIVE:
            # Scheduled triggers are evaluated at once rather than at the next minute, once the
            # activation is committed (never for one that rolls back).
            transaction.on_commit(_evaluate_soon)
        running = Enrollment.objects.filter(rule=rule, status=Enrollment.Status.ACTIVE).exclude(
            version=version
        )
        if in_flight == InFlight.MOVE:
            return running.update(version=version)
        if in_flight == InFlight.END:
            ids = list(running.values_list("pk", flat=True))
            return end_enrollments(ids, Enrollment.Status.ENDED, "version_changed", now)
    return 0


def _evaluate_soon() -> None:
    # Imported here for a cost reason: engine.tasks registers Huey tasks, which only a worker
    # or a request that activates a rule needs (and importing it at start-up would register
    # the periodic jobs before Huey is configured in the management commands).
    from .tasks import evaluate_now

    evaluate_now()


def rollback(
    rule: Rule,
    to: RuleVersion,
    *,
    actor: Any = None,
    in_flight: str = InFlight.KEEP,
    comment: str = "",
) -> RuleVersion:
    """Run an older version's content again, as a new version (history stays as it was)."""
    if to.rule_id != rule.pk:
        raise ValueError(f"{to} does not belong to {rule}")
    content = dict(to.content)
    if not comment:
        # Kept in the history: in the organisation's language, whoever rolls back, from where.
        with translation.override(settings.LANGUAGE_CODE):
            comment = gettext("Rolled back to version %(number)s") % {"number": to.number}
    with transaction.atomic():
        number = (rule.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = RuleVersion.objects.create(
            rule=rule,
            number=number,
            content=content,
            comment=comment[:200],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        activate(
            rule,
            version,
            in_flight=in_flight,
            actor=actor,
            comment=comment or f"v{to.number}",
            action=RuleChange.Action.ROLLED_BACK,
        )
    return version


def _record_each(ids: list[int], status: str, action: str, actor: Any, comment: str) -> None:
    for rule in Rule.objects.filter(pk__in=ids, status=status):
        record(rule, action, version=rule.current_version, actor=actor, comment=comment)


def pause(rules: Iterable[Rule], *, actor: Any = None, comment: str = "") -> int:
    """Stop rules: nothing new enrolls and pending steps wait until the rule is resumed."""
    ids = [rule.pk for rule in rules]
    with transaction.atomic():
        _record_each(ids, Rule.Status.ACTIVE, RuleChange.Action.PAUSED, actor, comment)
        count = Rule.objects.filter(pk__in=ids, status=Rule.Status.ACTIVE).update(
            status=Rule.Status.PAUSED, updated_at=timezone.now()
        )
        DueStep.objects.filter(enrollment__rule_id__in=ids, status=DueStep.Status.DUE).update(
            status=DueStep.Status.PAUSED
        )
    return count


def archive(rules: Iterable[Rule], *, now: Any = None, actor: Any = None, comment: str = "") -> int:
    """Retire rules: nothing new enrolls, running plans end and their pending steps are
    cancelled. The versions, plans and messages stay as history; a rule can be activated again."""
    ids = [rule.pk for rule in rules]
    now = now or timezone.now()
    with transaction.atomic():
        for rule in Rule.objects.filter(pk__in=ids).exclude(status=Rule.Status.ARCHIVED):
            record(
                rule,
                RuleChange.Action.ARCHIVED,
                version=rule.current_version,
                actor=actor,
                comment=comment,
            )
        count = (
            Rule.objects.filter(pk__in=ids)
            .exclude(status=Rule.Status.ARCHIVED)
            .update(status=Rule.Status.ARCHIVED, updated_at=now)
        )
        running = Enrollment.objects.filter(rule_id__in=ids, status=Enrollment.Status.ACTIVE)
        end_enrollments(
            list(running.values_list("pk", flat=True)), Enrollment.Status.ENDED, "archived", now
        )
    return count


def resume(rules: Iterable[Rule], *, now: Any = None, actor: Any = None, comment: str = "") -> int:
    """Run paused rules again. Steps that fell due meanwhile run now if still within the
    rule's misfire grace, else they are marked missed, exactly as after downtime."""
    ids = [rule.pk for rule in rules]
    with transaction.atomic():
        _record_each(
            [
                pk
                for pk in Rule.objects.filter(
                    pk__in=ids, current_version__isnull=False
                ).values_list("pk", flat=True)
            ],
            Rule.Status.PAUSED,
            RuleChange.Action.RESUMED,
            actor,
            comment,
        )
        count = Rule.objects.filter(
            pk__in=ids, status=Rule.Status.PAUSED, current_version__isnull=False
        ).update(status=Rule.Status.ACTIVE, updated_at=timezone.now())
        DueStep.objects.filter(
            enrollment__rule_id__in=ids,
            enrollment__rule__status=Rule.Status.ACTIVE,
            status=DueStep.Status.PAUSED,
        ).update(status=DueStep.Status.DUE)
        _skip_paused_time(ids, now or timezone.now())
    return count


def _skip_paused_time(ids: list[int], now: Any) -> None:
    """A paused rule's triggers do not catch up on the pause (unlike downtime): dates and
    recurring turns carry on from today, full evaluations from the newest event."""
    yesterday = local_date(now) - timedelta(days=1)
    cursors = TriggerCursor.objects.filter(rule_id__in=ids)
    cursors.filter(evaluated_through__lt=yesterday).update(evaluated_through=yesterday)
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    cursors.filter(last_event_id__isnull=False).update(last_event_id=newest)


def start_rule(rule: Rule, customer_id: int, anchor: str, now: datetime) -> None:
    """Enroll one customer in the rule's running version now (an agent's "start a rule" next
    action); the anchor makes a second request for the same reason enroll no one twice."""
    if rule.current_version_id is None:
        return
    enroll_now(
        plan(rule.current_version_id),
        Customer.objects.filter(pk=customer_id),
        customer="id",
        anchor=anchor,
        now=now,
    )


def cancel_retries(customer: Customer, channels: list[str] | None, now: datetime) -> int:
    """The due retries of the customer's messages cancelled for their withdrawn consent (which
    ``withdraw_consent`` has just done, through messaging's own hook); returns how many."""
    cancelled = Message.objects.filter(
        customer=customer, status=Message.Status.CANCELLED, reason=Reason.UNSUBSCRIBED
    )
    if channels is not None:
        cancelled = cancelled.filter(channel__in=channels)
    return DueStep.objects.filter(
        message_id__in=cancelled.values("id"),
        status__in=[DueStep.Status.DUE, DueStep.Status.PAUSED],
    ).update(status=DueStep.Status.CANCELLED, done_at=now)
