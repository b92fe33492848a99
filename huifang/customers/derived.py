"""Derived figures on the customer (order count, spend, last reply, survey scores …),
recomputed from events.

Recomputing from the events, rather than adding to running totals, makes the figures right
whatever order events arrive in: a purchase reported late still becomes the first purchase.
The work is one set-based ``UPDATE … FROM (aggregate)`` per chunk of customers, on SQLite and
PostgreSQL alike, never a Python loop over customers.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, Exists, Max, Min, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, Round
from django.utils import timezone

from huifang.core.statements import compiled

from .event_types import event_types
from .models import Customer, CustomEventType, Event

ROLLING_SPEND_WINDOW = timedelta(days=365)
CHUNK = 2000

# Each survey measure: the Event column, the Customer field of its latest value, and of its
# average over the rolling window. CSAT is ``Event.score``, kept as ``last_satisfaction``.
_MEASURES = (
    ("score", "last_satisfaction", "csat_12m"),
    ("nps", "last_nps", "nps_12m"),
    ("ces", "last_ces", "ces_12m"),
)
_AVERAGES = tuple(average for _column, _latest, average in _MEASURES)
_LATEST = tuple(latest for _column, latest, _average in _MEASURES)

# Summed, maxed or averaged over events in one aggregate; a latest score needs a query of its own.
_AGGREGATED = (
    "first_purchase_at",
    "last_purchase_at",
    "order_count",
    "total_spend",
    "spend_12m",
    "last_contact_at",
    "last_reply_at",
    "complaint_count",
    *_AVERAGES,
)
FIGURES = (*_AGGREGATED, *_LATEST)  # every Customer field this module maintains


def _keys(flag: str) -> list[str]:
    return [entry.key for entry in event_types if getattr(entry, flag)]


def _contact_types() -> list[str]:
    custom = CustomEventType.objects.filter(is_contact=True).order_by("key")
    return _keys("is_contact") + list(custom.values_list("key", flat=True))


def _aggregate(ids: list[int] | None, now: datetime) -> tuple[str, tuple[Any, ...]]:
    purchase = Q(type__in=_keys("is_purchase"))
    contact_types = _contact_types()
    zero = Value(Decimal("0"))
    recent = Q(occurred_at__gt=now - ROLLING_SPEND_WINDOW)
    # Rounded in SQL, so both databases store (and conditions compare) the same 2 decimals.
    averages = {
        average: Round(Avg(column, filter=recent), 2) for column, _latest, average in _MEASURES
    }
    events = Event.objects.all() if ids is None else Event.objects.filter(customer_id__in=ids)
    query = (
        events.order_by()
        .values("customer_id")
        .annotate(
            first_purchase_at=Min("occurred_at", filter=purchase),
            last_purchase_at=Max("occurred_at", filter=purchase),
            order_count=Count("id", filter=purchase),
            total_spend=Coalesce(Sum("amount", filter=purchase), zero),
            spend_12m=Coalesce(Sum("amount", filter=purchase & recent), zero),
            last_contact_at=Max("occurred_at", filter=Q(type__in=contact_types)),
            last_reply_at=Max("occurred_at", filter=Q(type__in=_keys("is_reply"))),
            complaint_count=Count("id", filter=Q(type__in=_keys("is_complaint"))),
            **averages,
        )
    )
    sql, params = query.query.sql_with_params()
    return sql, tuple(params)


def _update(ids: Sequence[int] | None, now: datetime) -> tuple[str, list[Any]]:
    table = connection.ops.quote_name(Customer._meta.db_table)
    events = connection.ops.quote_name(Event._meta.db_table)
    sql, params = _aggregate(None if ids is None else list(ids), now)
    # The latest scores in the same UPDATE: one new version of each customer row, not two.
    latest = ", ".join(
        f"{field} = (SELECT s.{column} FROM {events} s "  # noqa: S608
        f"WHERE s.customer_id = agg.customer_id AND s.{column} IS NOT NULL "
        "ORDER BY s.occurred_at DESC, s.id DESC LIMIT 1)"
        for column, field, _average in _MEASURES
    )
    assignments = ", ".join(f"{name} = agg.{name}" for name in _AGGREGATED)
    return (
        f"UPDATE {table} SET {assignments}, {latest} "  # noqa: S608
        f"FROM ({sql}) AS agg WHERE {table}.id = agg.customer_id",
        list(params),
    )


def _clear(ids: Sequence[int] | None) -> tuple[str, list[Any]]:
    """Customers without any event left keep no score from events they no longer have."""
    left = Customer.objects.exclude(Exists(Event.objects.filter(customer_id=OuterRef("pk"))))
    if ids is not None:
        left = left.filter(id__in=ids)
    scored = Q()
    for field in (*_LATEST, *_AVERAGES):
        scored |= Q(**{f"{field}__isnull": False})
    select, params = left.filter(scored).values("pk").query.sql_with_params()
    table = connection.ops.quote_name(Customer._meta.db_table)
    cleared = ", ".join(f"{field} = NULL" for field in (*_LATEST, *_AVERAGES))
    return (
        f"UPDATE {table} SET {cleared} WHERE id IN ({select})",  # noqa: S608
        list(params),
    )


def _refresh_chunk(ids: list[int] | None, now: datetime) -> None:
    statements: list[tuple[str, Sequence[Any]] | None]
    if ids is None or len(ids) > 10:
        statements = [_update(ids, now), _clear(ids)]
    else:  # an ingested event or two: the statements are built once and re-used
        key = ("derived", *_contact_types())
        statements = [
            compiled((*key, "update"), lambda at, among: _update(among, at), now, ids),
            compiled((*key, "clear"), lambda _at, among: _clear(among), now, ids),
        ]
    with connection.cursor() as cursor:
        for statement in statements:
            assert statement is not None
            cursor.execute(*statement)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for customer_id in ids:
        batch.append(customer_id)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def refresh(customer_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Recompute the derived figures of these customers from their events."""
    now = now or timezone.now()
    for chunk in _chunks(sorted(set(customer_ids))):
        _refresh_chunk(chunk, now)


def refresh_all(*, now: datetime | None = None) -> None:
    """Recompute every customer's figures in one pass (after a bulk load)."""
    _refresh_chunk(None, now or timezone.now())


def refresh_rolling_spend(*, now: datetime | None = None) -> int:
    """Daily: purchases and survey scores age out of the 12-month window although no event
    arrives."""
    now = now or timezone.now()
    rolling = Q(spend_12m__gt=0)
    for field in _AVERAGES:
        rolling |= Q(**{f"{field}__isnull": False})
    stale = Customer.objects.filter(rolling).values_list("id", flat=True).iterator()
    count = 0
    for chunk in _chunks(stale):
        _refresh_chunk(chunk, now)
        count += len(chunk)
    return count
