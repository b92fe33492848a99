"""Statements compiled once per rule version must be exactly what building them would give."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.core import statements
from huifang.core.statements import comparable
from huifang.customers.models import Event
from huifang.engine.triggers.event import event_statement
from huifang.rules.plans import plan

from .world import World, local

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def same(a: tuple[str, Sequence[Any]] | None, b: tuple[str, Sequence[Any]] | None) -> bool:
    assert a is not None and b is not None
    return a[0] == b[0] and [comparable(x) for x in a[1]] == [comparable(y) for y in b[1]]


def test_constants_moments_and_ids_are_filled_in() -> None:
    def build(at: datetime, ids: Sequence[int]) -> tuple[str, list[Any]]:
        adapted = connection.ops.adapt_datetimefield_value(at + timedelta(hours=3))
        return "SELECT %s, %s, %s, %s", [7, at - timedelta(days=30), ids[1], adapted]

    statements.forget()
    assert same(statements.compiled(("t",), build, NOW, [1, 2]), build(NOW, [1, 2]))
    later = NOW + timedelta(days=3, minutes=7, microseconds=5)
    assert same(statements.compiled(("t",), build, later, [5, 6]), build(later, [5, 6]))
    assert [t for t in statements._templates.values() if t is not None]


@pytest.mark.parametrize(
    "derived",
    [
        lambda at: at.date(),
        lambda at: at.replace(day=1, hour=0),
        lambda at: at.year,
        lambda at: at.astimezone(ZoneInfo("Asia/Shanghai")).replace(hour=0, minute=0),
        lambda at: at.replace(microsecond=0),
        lambda at: at.astimezone(ZoneInfo("America/New_York")) + timedelta(days=120),
    ],
)
def test_anything_else_derived_from_the_moment_is_built_every_time(
    derived: Callable[[datetime], Any],
) -> None:
    def build(at: datetime, ids: Sequence[int]) -> tuple[str, list[Any]]:
        return "SELECT %s, %s", [derived(at), ids[0]]

    statements.forget()
    for moment in (NOW, NOW + timedelta(days=45, hours=5)):
        assert same(statements.compiled(("t",), build, moment, [3]), build(moment, [3]))
    assert list(statements._templates.values()) == [None]


RULE = {
    "key": "vip-big-purchase",
    "name": "VIP big purchase",
    "trigger": {
        "kind": "event",
        "event": "purchase",
        "delay": {"hours": 2},
        "where": {
            "all": [
                {"field": "properties.amount", "op": "gte", "value": 500},
                {"field": "properties.sku", "op": "in", "value": ["A-1", "B-2"]},
            ]
        },
    },
    "audience": {
        "all": [
            {"field": "tier", "op": "in", "value": ["vip", "regular"]},
            {"field": "last_contact_at", "op": "within_last_days", "value": 90},
            {"field": "first_purchase_at", "op": "before_days", "value": 30},
            {"field": "tags", "op": "not_in", "value": ["blocked"]},
            {
                "field": "created_at",
                "op": "between",
                "value": ["2020-01-01T00:00:00+08:00", "2030-01-01T00:00:00+08:00"],
            },
        ]
    },
    "policy": {"reenroll_after": {"days": 30}},
    "steps": [{"id": "hello", "send": {"channel": "sms", "template": "hello"}}],
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moment=st.datetimes(
        min_value=datetime(2021, 1, 1), max_value=datetime(2034, 12, 31), timezones=st.just(UTC)
    ),
    ids=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=4),
)
def test_an_event_rules_statement_is_the_one_the_orm_builds(
    moment: datetime, ids: list[int]
) -> None:
    current = plan(World(local("2026-11-02 10:00")).rule(RULE).current_version_id or 0)

    def build(at: datetime, among: Sequence[int]) -> tuple[str, Sequence[Any]] | None:
        return event_statement(current, at, Event.objects.filter(pk__in=among))

    cached = statements.compiled(("enroll-events", current.version_id), build, moment, ids)
    assert same(cached, build(moment, ids))
    key = (connection.vendor, "enroll-events", current.version_id, len(set(ids)))
    assert statements._templates[key] is not None


def test_an_ingested_events_derived_figures_are_recomputed_from_a_template() -> None:
    world = World(local("2026-11-02 10:00"))
    customer = world.customer()
    statements.forget()
    world.event(customer, "purchase", amount=300)
    world.event(customer, "survey_answered", score=4)
    customer.refresh_from_db()
    assert (customer.order_count, customer.last_satisfaction) == (1, 4)
    derived = [k for k, t in statements._templates.items() if "derived" in k]
    assert derived and all(statements._templates[k] is not None for k in derived)
