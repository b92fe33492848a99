"""The live audience: the count and the newest ten are exactly who the conditions select."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from huifang.customers.models import Customer, Tag
from huifang.customers.tasks import planner_statistics
from huifang.rules.conditions import compile_condition
from huifang.studio.audience import SAMPLE_SIZE, live_audience

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
TAGS = ("会员", "高价值", "投诉过", "复购")
CITIES = ("上海市", "北京市", "杭州市", "")


@pytest.fixture
def crowd(db: None) -> list[Customer]:
    """Sixty customers of every kind, a third with two or more tags (so tag joins repeat
    rows), made in a shuffled order so the newest are not the ones that match first."""
    rng = random.Random(7)
    tags = [Tag.objects.create(name=name) for name in TAGS]
    made = []
    for number in range(60):
        bought = rng.choice([None, 5, 20, 60, 120, 400])
        customer = Customer.objects.create(
            name=f"客户{number:02d}",
            tier=rng.choice(["vip", "regular", "potential", "dormant"]),
            city=rng.choice(CITIES),
            spend_12m=Decimal(rng.choice([0, 300, 1200, 9000])),
            last_purchase_at=NOW - timedelta(days=bought) if bought is not None else None,
            last_satisfaction=rng.choice([None, 1, 2, 4, 5]),
            do_not_contact=rng.random() < 0.1,
        )
        customer.tags.add(*rng.sample(tags, rng.choice([0, 0, 1, 1, 2, 3, 4])))
        made.append(customer)
    return made


def tags_of(customer: Customer) -> set[str]:
    return {tag.name for tag in customer.tags.all()}


def bought_within(customer: Customer, days: int) -> bool:
    at = customer.last_purchase_at
    return at is not None and NOW - timedelta(days=days) <= at <= NOW


# (document, the same condition as a plain Python test of one customer)
CASES: list[tuple[dict[str, Any], Callable[[Customer], bool]]] = [
    ({"trigger": {"kind": "event", "event": "purchase"}}, lambda c: True),
    (
        {"audience": {"all": [{"field": "tier", "op": "eq", "value": "vip"}]}},
        lambda c: c.tier == "vip",
    ),
    (
        {
            "audience": {
                "all": [
                    {"field": "tier", "op": "in", "value": ["vip", "regular"]},
                    {"field": "last_purchase_at", "op": "within_last_days", "value": 90},
                    {"field": "city", "op": "eq", "value": "上海市"},
                ]
            }
        },
        lambda c: c.tier in ("vip", "regular") and bought_within(c, 90) and c.city == "上海市",
    ),
    (
        {"audience": {"field": "tags", "op": "in", "value": ["会员", "高价值"]}},
        lambda c: bool(tags_of(c) & {"会员", "高价值"}),
    ),
    (
        {"audience": {"field": "tags", "op": "contains", "value": ["会员", "高价值"]}},
        lambda c: {"会员", "高价值"} <= tags_of(c),
    ),
    (
        {"audience": {"field": "tags", "op": "not_in", "value": ["投诉过"]}},
        lambda c: "投诉过" not in tags_of(c),
    ),
    (
        {"audience": {"field": "tags", "op": "is_empty"}},
        lambda c: not tags_of(c),
    ),
    (
        {
            "audience": {
                "any": [
                    {"field": "spend_12m", "op": "gt", "value": 1000},
                    {"field": "last_satisfaction", "op": "lte", "value": 2},
                    {"field": "tags", "op": "in", "value": ["投诉过", "复购"]},
                ]
            }
        },
        lambda c: (
            c.spend_12m > 1000
            or (c.last_satisfaction is not None and c.last_satisfaction <= 2)
            or bool(tags_of(c) & {"投诉过", "复购"})
        ),
    ),
    (
        {
            "trigger": {
                "kind": "segment",
                "where": {"field": "tags", "op": "in", "value": list(TAGS)},
            },
            "audience": {
                "all": [
                    {"field": "tier", "op": "ne", "value": "dormant"},
                    {"field": "city", "op": "in", "value": ["上海市", "北京市"]},
                ]
            },
        },
        lambda c: bool(tags_of(c)) and c.tier != "dormant" and c.city in ("上海市", "北京市"),
    ),
    (
        {"audience": {"field": "last_purchase_at", "op": "within_last_days", "value": 30}},
        lambda c: bought_within(c, 30),
    ),
    (
        {"audience": {"field": "city", "op": "eq", "value": "火星"}},
        lambda c: False,
    ),
]


CASE_NAMES = [
    "everyone",
    "one_condition",
    "three_conditions",
    "any_of_two_tags",
    "every_tag",
    "no_tag_of",
    "no_tags",
    "or_group_with_tags",
    "segment_and_audience",
    "within_last_days",
    "nobody",
]


@pytest.mark.parametrize(("document", "test"), CASES, ids=CASE_NAMES)
def test_count_and_sample_match_a_plain_python_filter(
    crowd: list[Customer], document: dict[str, Any], test: Callable[[Customer], bool]
) -> None:
    expected = sorted((c.pk for c in crowd if test(c)), reverse=True)
    audience = live_audience(document, now=NOW)
    assert audience.errors == {}
    assert audience.count == len(expected)
    assert [c.pk for c in audience.sample] == expected[:SAMPLE_SIZE]


def test_the_sample_is_at_most_ten_newest_first(crowd: list[Customer]) -> None:
    audience = live_audience({"trigger": {"kind": "event", "event": "purchase"}}, now=NOW)
    pks = [c.pk for c in audience.sample]
    assert audience.count == len(crowd) > SAMPLE_SIZE
    assert len(pks) == SAMPLE_SIZE == len(set(pks))
    assert pks == sorted((c.pk for c in crowd), reverse=True)[:SAMPLE_SIZE]
    # What the page shows of each customer is loaded with the sample, not one query apiece.
    with CaptureQueriesContext(connection) as captured:
        shown = [(c.name, c.get_tier_display(), c.city, c.do_not_contact) for c in audience.sample]
    assert len(shown) == SAMPLE_SIZE and len(captured) == 0


def test_a_small_audience_is_the_whole_sample_and_needs_no_count(crowd: list[Customer]) -> None:
    few = [c for c in crowd if c.tier == "vip" and c.city == "杭州市"]
    assert 0 < len(few) < SAMPLE_SIZE
    document = {
        "audience": {
            "all": [
                {"field": "tier", "op": "eq", "value": "vip"},
                {"field": "city", "op": "eq", "value": "杭州市"},
            ]
        }
    }
    with CaptureQueriesContext(connection) as captured:
        audience = live_audience(document, now=NOW)
    assert audience.count == len(few)
    assert [c.pk for c in audience.sample] == sorted((c.pk for c in few), reverse=True)
    assert len(captured) == 1


def test_a_customer_with_two_matching_tags_is_counted_once(db: None) -> None:
    member, valued = Tag.objects.create(name="会员"), Tag.objects.create(name="高价值")
    both = []
    for number in range(SAMPLE_SIZE + 2):  # more than a sample: the count is a query of its own
        customer = Customer.objects.create(name=f"双标签{number}", tier="vip")
        customer.tags.add(member, valued)
        both.append(customer.pk)
    one = Customer.objects.create(name="单标签", tier="vip")
    one.tags.add(member)
    Customer.objects.create(name="无标签", tier="vip")
    wanted = sorted([*both, one.pk], reverse=True)

    for document in (
        {"audience": {"field": "tags", "op": "in", "value": ["会员", "高价值"]}},
        {
            "audience": {
                "all": [
                    {"field": "tier", "op": "eq", "value": "vip"},
                    {"field": "tags", "op": "in", "value": ["会员", "高价值"]},
                ]
            }
        },
        {
            "trigger": {
                "kind": "segment",
                "where": {"field": "tags", "op": "in", "value": ["高价值", "会员"]},
            },
            "audience": {"field": "tags", "op": "in", "value": ["会员", "高价值"]},
        },
        {
            "audience": {
                "any": [
                    {"field": "tags", "op": "in", "value": ["会员", "高价值"]},
                    {"field": "city", "op": "eq", "value": "上海市"},
                ]
            }
        },
    ):
        audience = live_audience(document, now=NOW)
        assert audience.count == len(wanted), document
        assert [c.pk for c in audience.sample] == wanted[:SAMPLE_SIZE], document

    # "No tags" in an OR group is a LEFT JOIN to the tags, one row per tag of everyone else.
    audience = live_audience(
        {
            "audience": {
                "any": [
                    {"field": "tags", "op": "is_empty"},
                    {"field": "tier", "op": "eq", "value": "vip"},
                ]
            }
        },
        now=NOW,
    )
    assert audience.count == len(wanted) + 1
    assert len({c.pk for c in audience.sample}) == SAMPLE_SIZE
    # The engine's own compiled condition selects each customer once too: no join to the tags.
    joined = Customer.objects.filter(tags__name__in=["会员", "高价值"])
    assert joined.count() == 2 * len(both) + 1
    compiled = compile_condition({"field": "tags", "op": "in", "value": ["会员", "高价值"]})
    assert Customer.objects.filter(compiled).count() == len(wanted)

    # A small audience (fewer than a sample) is counted from the sample: no repeats there either.
    Customer.objects.filter(pk__in=both[2:]).delete()
    audience = live_audience(
        {"audience": {"field": "tags", "op": "in", "value": ["会员", "高价值"]}}, now=NOW
    )
    assert audience.count == 3
    assert [c.pk for c in audience.sample] == sorted([*both[:2], one.pk], reverse=True)


@pytest.mark.parametrize(
    ("document", "path", "words"),
    [
        (
            {"audience": {"all": [{"field": "tier", "op": "eq", "value": "gold"}]}},
            "audience.all.0.value",
            "vip",
        ),
        (
            {
                "audience": {
                    "all": [
                        {"field": "tier", "op": "eq", "value": "vip"},
                        {"any": [{"field": "spend_12m", "op": "gt", "value": "lots"}]},
                    ]
                }
            },
            "audience.all.1.any.0.value",
            "number",
        ),
        ({"audience": {"field": "shoe_size", "op": "eq", "value": 42}}, "audience.field", "shoe"),
        (
            {"trigger": {"kind": "segment", "where": {"field": "tier", "op": "gt", "value": 1}}},
            "trigger.where.op",
            "gt",
        ),
        ({"audience": {"all": []}}, "audience.all", "list"),
    ],
)
def test_a_condition_error_is_returned_keyed_by_its_path(
    crowd: list[Customer], document: dict[str, Any], path: str, words: str
) -> None:
    with translation.override("en"):
        audience = live_audience(document, now=NOW)
    assert list(audience.errors) == [path]
    assert words in audience.errors[path]
    assert audience.count == -1 and audience.sample == []


def test_conditions_are_counted_across_trigger_and_audience(crowd: list[Customer]) -> None:
    document = {
        "trigger": {"kind": "segment", "where": {"field": "tier", "op": "eq", "value": "vip"}},
        "audience": {
            "all": [
                {"field": "city", "op": "eq", "value": "上海市"},
                {"any": [{"field": "spend_12m", "op": "gt", "value": 1000}]},
            ]
        },
    }
    assert live_audience(document, now=NOW).conditions == 3
    # An event trigger's ``where`` filters the event, not the customer.
    document["trigger"] = {
        "kind": "event",
        "event": "purchase",
        "where": {"field": "properties.amount", "op": "gt", "value": 100},
    }
    audience = live_audience(document, now=NOW)
    assert audience.conditions == 2 and audience.errors == {}


def test_the_hourly_job_gives_sqlite_statistics_of_the_customer_tables(
    crowd: list[Customer],
) -> None:
    """Without them SQLite takes the tier index for selective: seconds at a million customers
    for "VIP or regular with tag X" (bench/audience.py). PostgreSQL's autovacuum has its own."""
    planner_statistics()
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT tbl FROM sqlite_stat1")
        analysed = {row[0] for row in cursor.fetchall()}
    assert {Customer._meta.db_table, Customer.tags.through._meta.db_table} <= analysed
    planner_statistics()  # again: it only refreshes
