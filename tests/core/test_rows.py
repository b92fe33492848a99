"""``rows.write``: the fields of many saved rows in one statement, as ``bulk_update`` would
write them (foreign keys, moments, JSON), and nothing else."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.contrib.auth.models import User
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


@pytest.mark.parametrize("count", [3, rows.COPY_FROM + 50])
def test_inserted_rows_hold_what_was_given_in_order(count: int) -> None:
    """A small batch and one large enough for ``COPY`` on PostgreSQL store the same."""
    given = [
        {
            "name": f"客户{i}",
            "phone": f"+8613800{i:06d}",
            "birthday": date(1990, 1 + i % 12, 1 + i % 28),
            "attributes": {"store": f"门店{i % 3}", "n": i, "tags": ["a", "b"]} if i % 2 else {},
            "created_at": AT,
            "updated_at": AT,
        }
        for i in range(count)
    ]
    keys = rows.insert_values(Customer, given)
    assert keys == sorted(keys) and len(set(keys)) == count
    stored = Customer.objects.in_bulk(keys)
    for key, row in zip(keys, given, strict=True):
        customer = stored[key]
        assert (customer.name, customer.phone, customer.birthday) == (
            row["name"],
            row["phone"],
            row["birthday"],
        )
        assert customer.attributes == row["attributes"]
        assert customer.created_at == AT
        assert customer.tier == Customer._meta.get_field("tier").default  # defaults applied
    messages = [
        Message(
            customer_id=keys[0],
            channel="sms",
            template=f"t{i}",
            planned_at=AT,
            created_at=AT,
            decisions=[{"action": "send", "n": i}],
        )
        for i in range(count)
    ]
    rows.insert(messages)
    assert [m.pk for m in messages] == sorted(m.pk for m in messages)
    again = Message.objects.get(pk=messages[-1].pk)
    assert again.decisions == [{"action": "send", "n": count - 1}]
    assert again.template == f"t{count - 1}"
    later = Customer.objects.create(name="after")
    assert later.pk > max(keys)  # the sequence moved past the keys taken


def test_loaded_instances_read_written_and_deferred_as_the_orm_makes_them() -> None:
    owner = User.objects.create(username="li")
    made = Customer.objects.create(
        name="王芳", phone="+8613800138000", city="杭州", attributes={"store": "西湖"}, owner=owner
    )
    fields = ("name", "phone", "attributes", "owner")
    (customer,) = rows.loaded(
        Customer, fields, Customer.objects.filter(pk=made.pk).values_list("pk", *fields)
    )
    orm = Customer.objects.only(*fields).get(pk=made.pk)
    assert (customer.pk, customer.name, customer.phone) == (orm.pk, orm.name, orm.phone)
    assert customer.attributes == {"store": "西湖"} and customer.owner_id == owner.pk
    assert customer.get_deferred_fields() == orm.get_deferred_fields()
    with CaptureQueriesContext(connection) as queries:
        assert customer.city == "杭州"  # not loaded: read when touched
    assert len(queries.captured_queries) == 1
    customer.name = "王芳芳"
    rows.write([customer], ["name"])
    customer.save(update_fields=["phone"])  # a saved instance, as Django knows one
    assert Customer.objects.get(pk=made.pk).name == "王芳芳"
    assert Customer.objects.count() == 1
