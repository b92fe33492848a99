"""Derived figures are right whatever order events arrive in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.customers import derived
from huifang.customers.models import Customer
from huifang.customers.services import ingest_events

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def event(kind: str, at: datetime, **properties: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "customer_external_id": "C-1",
        "occurred_at": at.isoformat(),
        "properties": properties,
    }


def test_a_late_purchase_becomes_the_first_purchase(customer: Customer) -> None:
    later, earlier = NOW - timedelta(days=2), NOW - timedelta(days=40)
    ingest_events([event("purchase", later, amount=300)], now=NOW)
    ingest_events([event("purchase", earlier, amount=200)], now=NOW)
    customer.refresh_from_db()
    assert customer.first_purchase_at == earlier
    assert customer.last_purchase_at == later
    assert (customer.order_count, customer.total_spend) == (2, Decimal("500"))


def test_the_newest_score_wins_even_when_it_arrived_first(customer: Customer) -> None:
    ingest_events([event("survey_answered", NOW - timedelta(days=1), score=2)], now=NOW)
    ingest_events([event("survey_answered", NOW - timedelta(days=9), score=5)], now=NOW)
    customer.refresh_from_db()
    assert customer.last_satisfaction == 2


def test_replies_contacts_and_complaints_are_counted(customer: Customer) -> None:
    ingest_events(
        [
            event("message_replied", NOW - timedelta(days=3), text="好的"),
            event("visit", NOW - timedelta(days=1)),
            event("page_view", NOW - timedelta(hours=1), url="/"),  # not a contact
            event("complaint", NOW - timedelta(days=5), reason="物流太慢"),
            event("complaint", NOW - timedelta(days=6), reason="客服态度"),
        ],
        now=NOW,
    )
    customer.refresh_from_db()
    assert customer.last_reply_at == NOW - timedelta(days=3)
    assert customer.last_contact_at == NOW - timedelta(days=1)
    assert customer.complaint_count == 2


def test_spend_ages_out_of_the_twelve_month_window(customer: Customer) -> None:
    ingest_events(
        [
            event("purchase", NOW - timedelta(days=360), amount=1000),
            event("purchase", NOW - timedelta(days=10), amount=50),
        ],
        now=NOW,
    )
    customer.refresh_from_db()
    assert customer.spend_12m == Decimal("1050")
    derived.refresh_rolling_spend(now=NOW + timedelta(days=10))
    customer.refresh_from_db()
    assert customer.spend_12m == Decimal("50")
    assert customer.total_spend == Decimal("1050")


purchases = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=800),  # days ago
        st.decimals(min_value=0, max_value=99999, places=2, allow_nan=False),
    ),
    min_size=1,
    max_size=8,
)


@pytest.mark.django_db
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=purchases, order=st.randoms(use_true_random=False), batches=st.integers(1, 3))
def test_figures_do_not_depend_on_arrival_order(
    history: list[tuple[int, Decimal]], order: Any, batches: int
) -> None:
    Customer.objects.all().delete()
    customer = Customer.objects.create(external_id="C-1", name="甲")
    rows = [
        event("purchase", NOW - timedelta(days=d, minutes=i), amount=str(amount))
        for i, (d, amount) in enumerate(history)
    ]
    order.shuffle(rows)
    for start in range(batches):
        ingest_events(rows[start::batches], now=NOW)
    customer.refresh_from_db()
    times = [NOW - timedelta(days=d, minutes=i) for i, (d, _a) in enumerate(history)]
    assert customer.order_count == len(history)
    assert customer.first_purchase_at == min(times)
    assert customer.last_purchase_at == max(times)
    assert customer.total_spend == sum((a for _d, a in history), Decimal("0"))
    assert customer.spend_12m == sum(
        (
            a
            for i, (d, a) in enumerate(history)
            if NOW - timedelta(days=d, minutes=i) > NOW - timedelta(days=365)
        ),
        Decimal("0"),
    )
