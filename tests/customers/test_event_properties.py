"""An event's properties in words: labels for the keys the product writes, formatted values
(money, lists, choices, moments), nothing for the ids only the system reads, and a custom key
under its own name."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import translation

from huifang.customers.event_properties import shown, summary
from huifang.customers.models import Event


def pairs(event: Event) -> list[tuple[str, str]]:
    return [(s.label, s.value) for s in shown(event)]


@pytest.mark.usefixtures("english")
def test_the_product_s_keys_read_as_words() -> None:
    event = Event(
        type="followup_reached",
        occurred_at=datetime(2026, 11, 2, tzinfo=UTC),
        properties={
            "task": 12,
            "task_kind": "follow_up",
            "outcome": "refused",
            "tags": ["处理慢", "态度好"],
            "rule": None,
            "rule_key": "",
            "call_back_at": "2026-11-03T02:00:00+00:00",
            "channels": ["sms", "wecom"],
            "colour": "红",
        },
    )
    assert pairs(event) == [
        ("Task", "#12"),
        ("Outcome", "Refused further contact"),
        ("Tags", "处理慢、态度好"),
        ("Call back at", "2026-11-03 10:00"),
        ("Channels", "SMS、WeCom"),
        ("colour", "红"),
    ]


@pytest.mark.usefixtures("english")
def test_the_badges_figures_are_not_said_twice_but_a_summary_says_them() -> None:
    event = Event(
        type="purchase",
        occurred_at=datetime(2026, 11, 2, tzinfo=UTC),
        amount=Decimal("1299"),
        properties={"product": "空气净化器", "amount": 1299, "order_id": "A-1"},
    )
    assert pairs(event) == [("Product", "空气净化器"), ("Order no.", "A-1")]
    assert summary(event) == "Product: 空气净化器 · Amount: ¥1,299.00 · Order no.: A-1"


def test_in_chinese() -> None:
    event = Event(type="complaint", occurred_at=datetime(2026, 11, 2, tzinfo=UTC))
    event.properties = {"reason": "物流慢", "order_id": "A-1"}
    with translation.override("zh-hans"):
        assert summary(event) == "原因：物流慢 · 订单号：A-1"
