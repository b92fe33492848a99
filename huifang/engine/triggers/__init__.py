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

import logging
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from huifang.core import held
from huifang.customers.models import Event
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.zones import local_date
from huifang.rules.document import EventTrigger
from huifang.rules.models import Rule
from huifang.rules.plans import Plan, plan

from .. import lifecycle
from ..models import TriggerCursor
from ..reactions import react

# Each kind registers itself when its module is imported.
from . import date, event, recurring, segment  # noqa: F401  isort: skip
from .base import Scope, kinds
from .event import enroll_events

log = logging.getLogger(__name__)


def active_rules(*kinds: str) -> list[tuple[Rule, Plan]]:
    """The active rules (of ``kinds``) with their current versions; a version whose conditions
    are off the allow-list (``Plan.problem``) is left out: it is never run. Read once within
    ``held.block()`` (a simulation, whose rules are fixed for its whole window)."""
    return [
        (rule, current)
        for rule, current in held.once("active_rules", _active_rules)
        if not kinds or current.document.trigger.kind in kinds
    ]


def _active_rules() -> list[tuple[Rule, Plan]]:
    result = []
    for rule in Rule.objects.filter(status=Rule.Status.ACTIVE, current_version__isnull=False):
        assert rule.current_version_id is not None
        current = plan(rule.current_version_id)
        if runnable(rule, current):
            result.append((rule, current))
    return result


def runnable(rule: Rule, current: Plan) -> bool:
    if current.problem is None:
        return True
    log.warning("rule %s is not run: %s", rule.key, current.problem)
    return False


def on_events(events: Sequence[Event], now: datetime) -> None:
    """React to newly stored events: end or move running plans, then enroll event triggers.

    Runs inside the transaction that stores the events, so an exit takes effect the moment the
    event is committed (well within a second) and nothing is enrolled for an event that is not.
    """
    if not events:
        return
    react(events, now)
    types = {e.type for e in events}
    ids = [e.pk for e in events]
    zones: dict[int, str] = {}  # read once for all the rules that count days
    for rule, current in active_rules("event"):
        trigger = current.document.trigger
        assert isinstance(trigger, EventTrigger)
        if trigger.event not in types:
            continue
        enroll_events(rule, current, Event.objects.none(), now, few=ids, zones=zones)


def evaluate(
    rule: Rule,
    now: datetime,
    *,
    calendar: BusinessCalendar | None = None,
    newest_event: int | None = None,
) -> int:
    """Evaluate a rule's trigger once (its kind's ``evaluate``, with the rule's cursor locked
    and moved forward); returns how many customers it enrolled."""
    assert rule.current_version_id is not None
    current = plan(rule.current_version_id)
    if not runnable(rule, current):
        return 0
    kind = kinds[current.document.trigger.kind]
    with transaction.atomic():
        cursor = TriggerCursor.objects.select_for_update().filter(rule=rule).first()
        scope = Scope(
            now, local_date(now), calendar or BusinessCalendar.load(), cursor, newest_event
        )
        done = kind.evaluate(rule, current, scope)
        if done.last_event_id is not None:
            lifecycle.advance_cursor(
                rule, through=done.through, now=now, last_event_id=done.last_event_id
            )
        else:
            lifecycle.advance_cursor(rule, through=done.through, now=now)
    return done.enrolled


def evaluate_all(now: datetime) -> dict[str, int]:
    """Every active rule over all customers at once (``huifang engine --once``, benchmarks).

    Scheduled rules as the scheduler would, forced. Event rules enroll as events arrive; here
    they also look at the events stored since their last full evaluation — on the first one,
    every event still young enough to act on (a backfill after activation). Idempotent: a
    second pass enrolls no one. Rules are evaluated side by side (``in_parallel``).
    """
    calendar = BusinessCalendar.load()
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return in_parallel(
        lambda rule, _current: evaluate(rule, now, calendar=calendar, newest_event=newest),
        active_rules(),
    )


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
    rules = sorted(rules, key=lambda pair: kinds[pair[1].document.trigger.kind].order)
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


def evaluate_scheduled(
    now: datetime, *, force: bool = False, only: Collection[str] | None = None
) -> dict[str, int]:
    """Evaluate every active rule whose kind is scheduled and due for it (dates and segments
    every ``SEGMENT_EVALUATION_MINUTES``, recurring rules once a day); ``only`` those kinds
    when given (the simulation asks for segments hourly and for the rest once a day)."""
    calendar = BusinessCalendar.load()
    cursors = {c.rule_id: c for c in TriggerCursor.objects.all()}
    every = timedelta(minutes=settings.HUIFANG_SEGMENT_MINUTES)
    today = local_date(now)
    due = []
    for rule, current in active_rules():
        kind = kinds[current.document.trigger.kind]
        cursor = cursors.get(rule.pk)
        if only is not None and kind.key not in only:
            continue
        if kind.scheduled and (
            force or kind.due(cursor, Scope(now, today, calendar, cursor), every)
        ):
            due.append((rule, current))
    return in_parallel(lambda rule, _current: evaluate(rule, now, calendar=calendar), due)
