"""``next_turn``: until the moment it names, the clock alone changes no customer's membership
of a condition — the simulation evaluates a segment only from then on (or after data changed),
so a moment too late would lose customers who entered. Property-based, on real rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.customers.models import Customer
from huifang.rules.conditions import compile_condition, next_turn

NOW = datetime(2026, 11, 22, 4, 30, tzinfo=UTC)


class Rollback(Exception):
    pass


def members(condition: dict[str, Any], at: datetime) -> set[int]:
    return set(
        Customer.objects.filter(compile_condition(condition, now=at)).values_list("id", flat=True)
    )


@pytest.mark.django_db
def test_the_moment_is_exact_for_a_moment_counted_back() -> None:
    bought = NOW - timedelta(days=80, hours=3)
    Customer.objects.create(name="Ann", last_purchase_at=bought, order_count=1)
    dormant = {"field": "last_purchase_at", "op": "before_days", "value": 90}
    turn = next_turn([dormant], NOW)
    assert turn == bought + timedelta(days=90)
    assert not members(dormant, turn)
    assert members(dormant, turn + timedelta(microseconds=1))
    # Once inside, the clock never takes her out again: no further turn.
    assert next_turn([dormant], turn + timedelta(seconds=1)) is None


@pytest.mark.django_db
def test_only_clocked_parts_turn() -> None:
    Customer.objects.create(name="Ann", last_purchase_at=NOW, order_count=3, tier="vip")
    fixed = {
        "all": [
            {"field": "tier", "op": "eq", "value": "vip"},
            {"field": "order_count", "op": "gte", "value": 2},
        ]
    }
    assert next_turn([fixed, None], NOW) is None


some_moment = st.integers(-400 * 24, 60 * 24).map(
    lambda hours: NOW + timedelta(hours=hours, minutes=7)
)
moments = st.one_of(st.none(), some_moment, some_moment, some_moment)
some_day = st.integers(-400, 60).map(lambda n: date(2026, 11, 22) + timedelta(days=n))
days = st.one_of(st.none(), some_day, some_day, some_day)
people = st.lists(
    st.fixed_dictionaries({"purchase": moments, "contact": moments, "birthday": days}),
    min_size=1,
    max_size=6,
)
clocked = st.fixed_dictionaries(
    {
        "field": st.sampled_from(["last_purchase_at", "last_contact_at", "birthday"]),
        "op": st.sampled_from(["before_days", "within_last_days"]),
        "value": st.integers(0, 120),
    }
)
plain = st.just({"field": "order_count", "op": "gte", "value": 1})
conditions = st.recursive(
    st.one_of(clocked, clocked, clocked, plain),
    lambda inner: st.one_of(
        st.builds(lambda items: {"all": items}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda items: {"any": items}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=5,
)


@pytest.mark.django_db
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=people,
    condition=conditions,
    audience=st.one_of(st.none(), conditions),
    start=st.integers(0, 24 * 90),
    later=st.lists(st.integers(1, 24 * 200), min_size=1, max_size=6),
)
def test_nobody_enters_or_leaves_before_the_turn(
    rows: list[dict[str, Any]],
    condition: dict[str, Any],
    audience: dict[str, Any] | None,
    start: int,
    later: list[int],
) -> None:
    try:
        with transaction.atomic():
            for n, row in enumerate(rows):
                Customer.objects.create(
                    name=f"c{n}",
                    order_count=n % 2,
                    last_purchase_at=row["purchase"],
                    last_contact_at=row["contact"],
                    birthday=row["birthday"],
                )
            both = {"all": [condition, audience]} if audience else condition
            at = NOW + timedelta(hours=start, minutes=13)
            turn = next_turn([condition, audience], at)
            first = members(both, at)
            moments = [at + timedelta(hours=hours) for hours in later]
            if turn is not None:
                assert turn >= at
                # The sharpest check: the last moment before the turn.
                moments.append(turn - timedelta(microseconds=1))
            for moment in moments:
                if moment < at or (turn is not None and moment >= turn):
                    continue
                assert members(both, moment) == first, (moment, turn)
            raise Rollback
    except Rollback:
        pass
