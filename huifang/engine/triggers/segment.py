"""The ``segment`` trigger: customers who *enter* the segment (kept in ``SegmentMember``);
leaving and entering again enrolls again, after ``reenroll_after``."""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import DateTimeField, Exists, F, IntegerField, Max, OuterRef, QuerySet, Value

from huifang.core.rows import set_based
from huifang.customers.models import Customer
from huifang.rules.conditions import compile_condition, next_turn
from huifang.rules.document import SegmentTrigger
from huifang.rules.models import Rule
from huifang.rules.plans import Plan

from ..lifecycle import enroll_now
from ..models import SegmentMember
from .base import Evaluated, Scope, TriggerKind, every_few_minutes, kinds


def members(current: Plan, now: datetime) -> QuerySet[Customer]:
    """The customers in the segment of ``current`` (its ``where`` and audience) at ``now``."""
    trigger = current.document.trigger
    assert isinstance(trigger, SegmentTrigger)
    return Customer.objects.filter(
        compile_condition(trigger.where, now=now)
        & compile_condition(current.document.audience, now=now)
    )


def evaluate_segment(rule: Rule, current: Plan, now: datetime, *, first: bool = False) -> int:
    """Record who is in the segment now; enroll those who entered since the last evaluation.

    On a rule's first evaluation everyone inside is new to the table, but they did not *enter*:
    they are recorded without being enrolled, unless the trigger says ``include_existing``.
    """
    trigger = current.document.trigger
    assert isinstance(trigger, SegmentTrigger)
    inside = members(current, now)
    # NOT EXISTS, not NOT IN: PostgreSQL turns NOT IN over a large sub-select that does not
    # fit work_mem into a nested loop (minutes at a million customers), NOT EXISTS into a
    # hashed anti-join.
    SegmentMember.objects.filter(rule=rule).exclude(
        Exists(inside.filter(pk=OuterRef("customer_id")))
    ).delete()
    entering = inside.filter(
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


def next_change(current: Plan, after: datetime) -> datetime | None:
    """From when the segment's members may differ from those at ``after`` though no customer's
    data changes (``conditions.next_turn``); ``None``: the clock alone never changes them. The
    simulation evaluates a segment only from then on, or after data changed."""
    trigger = current.document.trigger
    assert isinstance(trigger, SegmentTrigger)
    return next_turn([trigger.where, current.document.audience], after)


def evaluate_segment_rule(rule: Rule, current: Plan, scope: Scope) -> Evaluated:
    count = evaluate_segment(rule, current, scope.now, first=scope.cursor is None)
    return Evaluated(count, scope.today)


kinds.register(TriggerKind("segment", 1, evaluate_segment_rule, every_few_minutes))
