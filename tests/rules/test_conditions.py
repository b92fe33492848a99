"""Conditions compile to SQL: every op, on real customers, and bad input named precisely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from huifang.customers.models import Customer, Event, Tag
from huifang.rules.conditions import ConditionError, compile_condition

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


@pytest.fixture
def people(db: None) -> dict[str, Customer]:
    vip, member = Tag.objects.create(name="VIP客户"), Tag.objects.create(name="会员")
    made = {
        "ann": Customer.objects.create(
            name="Ann",
            tier="vip",
            city="杭州市",
            spend_12m=Decimal("60000"),
            order_count=9,
            last_contact_at=NOW - timedelta(days=100),
            last_satisfaction=2,
            attributes={"plan": "企业版", "seats": 50},
            birthday="1990-05-01",
        ),
        "bo": Customer.objects.create(
            name="Bo",
            tier="regular",
            city="上海市",
            spend_12m=Decimal("800"),
            order_count=1,
            last_contact_at=NOW - timedelta(days=3),
            last_satisfaction=5,
            attributes={"plan": "基础版", "seats": 5},
            do_not_contact=True,
        ),
        "cy": Customer.objects.create(name="Cy", tier="dormant", city="", order_count=0),
    }
    made["ann"].tags.add(vip, member)
    made["bo"].tags.add(member)
    return made


def matching(condition: dict[str, Any]) -> list[str]:
    q = compile_condition(condition, now=NOW)
    return sorted(Customer.objects.filter(q).distinct().values_list("name", flat=True))


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "tier", "op": "eq", "value": "vip"}, ["Ann"]),
        ({"field": "tier", "op": "ne", "value": "vip"}, ["Bo", "Cy"]),
        ({"field": "tier", "op": "in", "value": ["vip", "regular"]}, ["Ann", "Bo"]),
        ({"field": "tier", "op": "not_in", "value": ["vip", "regular"]}, ["Cy"]),
        ({"field": "spend_12m", "op": "gt", "value": 50000}, ["Ann"]),
        ({"field": "spend_12m", "op": "gte", "value": "800"}, ["Ann", "Bo"]),
        ({"field": "order_count", "op": "lt", "value": 1}, ["Cy"]),
        ({"field": "order_count", "op": "lte", "value": 1}, ["Bo", "Cy"]),
        ({"field": "order_count", "op": "between", "value": [1, 9]}, ["Ann", "Bo"]),
        ({"field": "last_satisfaction", "op": "lt", "value": 3}, ["Ann"]),
        ({"field": "last_satisfaction", "op": "is_empty"}, ["Cy"]),
        ({"field": "city", "op": "contains", "value": "杭州"}, ["Ann"]),
        ({"field": "city", "op": "is_empty", "value": True}, ["Cy"]),
        ({"field": "city", "op": "is_empty", "value": False}, ["Ann", "Bo"]),
        ({"field": "do_not_contact", "op": "eq", "value": True}, ["Bo"]),
        ({"field": "last_contact_at", "op": "within_last_days", "value": 30}, ["Bo"]),
        ({"field": "last_contact_at", "op": "before_days", "value": 90}, ["Ann"]),
        ({"field": "last_contact_at", "op": "lt", "value": "2026-10-01"}, ["Ann"]),
        ({"field": "birthday", "op": "eq", "value": "1990-05-01"}, ["Ann"]),
        ({"field": "tags", "op": "contains", "value": "会员"}, ["Ann", "Bo"]),
        ({"field": "tags", "op": "contains", "value": ["会员", "VIP客户"]}, ["Ann"]),
        ({"field": "tags", "op": "in", "value": ["VIP客户", "nothing"]}, ["Ann"]),
        ({"field": "tags", "op": "not_in", "value": ["VIP客户"]}, ["Bo", "Cy"]),
        ({"field": "tags", "op": "is_empty"}, ["Cy"]),
        ({"field": "attributes.plan", "op": "eq", "value": "企业版"}, ["Ann"]),
        ({"field": "attributes.seats", "op": "gte", "value": 10}, ["Ann"]),
        ({"field": "attributes.plan", "op": "contains", "value": "基础"}, ["Bo"]),
        ({"field": "attributes.plan", "op": "is_empty"}, ["Cy"]),
    ],
)
def test_each_op_selects_the_right_customers(
    people: Any, condition: dict[str, Any], expected: list[str]
) -> None:
    assert matching(condition) == expected


def test_groups_nest(people: Any) -> None:
    condition = {
        "all": [
            {"field": "tier", "op": "in", "value": ["vip", "regular"]},
            {
                "any": [
                    {"field": "spend_12m", "op": "gt", "value": 50000},
                    {"field": "do_not_contact", "op": "eq", "value": True},
                ]
            },
            {"field": "tags", "op": "contains", "value": "会员"},
        ]
    }
    assert matching(condition) == ["Ann", "Bo"]
    assert matching(
        {
            "any": [
                {"field": "tier", "op": "eq", "value": "dormant"},
                {"field": "city", "op": "eq", "value": "上海市"},
            ]
        }
    ) == ["Bo", "Cy"]


def test_evaluation_is_one_query_whatever_the_number_of_customers(people: Any) -> None:
    q = compile_condition(
        {
            "all": [
                {"field": "tier", "op": "in", "value": ["vip", "regular"]},
                {"field": "tags", "op": "contains", "value": "会员"},
            ]
        },
        now=NOW,
    )
    with CaptureQueriesContext(connection) as captured:
        list(Customer.objects.filter(q).values_list("pk", flat=True))
    assert len(captured) == 1


def test_event_properties_filter_events(people: Any) -> None:
    ann = people["ann"]
    for amount in (300, 500, 900):
        Event.objects.create(
            customer=ann,
            type="purchase",
            occurred_at=NOW,
            properties={"amount": amount},
            amount=amount,
        )
    q = compile_condition(
        {"all": [{"field": "properties.amount", "op": "gte", "value": 500}]}, now=NOW, events=True
    )
    amounts = Event.objects.filter(q).order_by("amount").values_list("amount", flat=True)
    assert list(amounts) == [500, 900]
    with_customer = compile_condition(
        {"field": "tier", "op": "eq", "value": "vip"}, now=NOW, events=True, prefix="customer__"
    )
    assert Event.objects.filter(q & with_customer).count() == 2


@pytest.mark.parametrize(
    ("condition", "path", "words"),
    [
        ({"field": "shoe_size", "op": "eq", "value": 42}, "field", "shoe_size"),
        ({"field": "tier", "op": "gt", "value": "vip"}, "op", "gt"),
        ({"field": "tier", "op": "eq", "value": "gold"}, "value", "vip"),
        ({"field": "spend_12m", "op": "gt", "value": "lots"}, "value", "number"),
        ({"field": "spend_12m", "op": "between", "value": [1]}, "value", "between"),
        ({"field": "tier", "op": "in", "value": "vip"}, "value", "list"),
        ({"field": "last_contact_at", "op": "before_days", "value": -3}, "value", "days"),
        ({"field": "last_contact_at", "op": "gt", "value": "yesterday"}, "value", "date"),
        ({"field": "do_not_contact", "op": "eq", "value": "yes"}, "value", "true or false"),
        ({"field": "properties.amount", "op": "gt", "value": 1}, "field", "properties.amount"),
        ({"all": []}, "all", "list"),
        ({"all": [{"field": "tier", "op": "eq", "value": "vip"}, "oops"]}, "all.1", "object"),
        ({"any": [{"field": "tier", "op": "eq", "value": "vip", "extra": 1}]}, "any.0", "extra"),
    ],
)
def test_bad_conditions_are_refused_naming_the_place(
    condition: dict[str, Any], path: str, words: str
) -> None:
    with translation.override("en"), pytest.raises(ConditionError) as caught:
        compile_condition(condition, now=NOW)
    assert caught.value.path.endswith(path)
    assert words in caught.value.message


def test_errors_speak_the_users_language() -> None:
    with translation.override("zh-hans"), pytest.raises(ConditionError) as caught:
        compile_condition({"field": "shoe_size", "op": "eq", "value": 1})
    assert "shoe_size" in caught.value.message and "不是" in caught.value.message
