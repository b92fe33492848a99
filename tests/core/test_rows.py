"""``rows.write``: the fields of many saved rows in one statement, as ``bulk_update`` would
write them (foreign keys, moments, JSON), and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from huifang.core import rows
from huifang.customers.models import Customer
from huifang.messaging.models import Message

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_many_rows_in_one_statement() -> None:
    ann = Customer.objects.create(name="Ann")
    bo = Customer.objects.create(name="Bo")
    made = [
        Message.objects.create(
            customer=ann, channel="sms", template="a", planned_at=AT, created_at=AT
        ),
        Message.objects.create(
            customer=ann, channel="sms", template="b", planned_at=AT, created_at=AT
        ),
    ]
    first, second = made
    first.status, first.reason, first.decisions = "dropped", "cap", [{"action": "drop", "n": 1}]
    first.deferred_until, first.changed_at = None, AT
    second.status, second.customer = "deferred", bo
    second.deferred_until, second.decisions, second.changed_at = AT, [], AT
    with CaptureQueriesContext(connection) as queries:
        written = rows.write(
            made, ["status", "reason", "deferred_until", "decisions", "changed_at", "customer"]
        )
    assert written == 2
    assert len(queries.captured_queries) == 1
    stored = {m.pk: m for m in Message.objects.filter(pk__in=[first.pk, second.pk])}
    assert (stored[first.pk].status, stored[first.pk].reason) == ("dropped", "cap")
    assert stored[first.pk].decisions == [{"action": "drop", "n": 1}]
    assert stored[first.pk].changed_at == AT
    assert stored[second.pk].customer_id == bo.pk
    assert stored[second.pk].deferred_until == AT
    assert stored[second.pk].template == "b"  # not named, not written


def test_nothing_to_write() -> None:
    assert rows.write([], ["status"]) == 0
