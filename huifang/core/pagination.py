"""Keyset ("seek") pagination: pages cost the same at row 20 and at row 999,980.

A page is fetched with ``WHERE (sort, id) < (last sort, last id) ORDER BY sort, id LIMIT n``,
which an index on ``(sort, id)`` answers directly, where ``OFFSET`` would read every row before.
The cursor is the last row's sort value and id, signed so a visitor cannot hand-craft one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core import signing
from django.db.models import Model, Q, QuerySet

M = TypeVar("M", bound=Model)
_SALT = "huifang.pagination"
COUNT_CAP = 10_000


@dataclass
class Page(Generic[M]):
    items: Sequence[M]
    next_cursor: str | None
    prev_cursor: str | None
    total: int
    total_capped: bool


def _encode(values: list[Any]) -> str:
    return signing.dumps(values, salt=_SALT, compress=True)


def _decode(cursor: str) -> list[Any] | None:
    try:
        values = signing.loads(cursor, salt=_SALT)
    except signing.BadSignature:
        return None
    return values if isinstance(values, list) and len(values) == 2 else None


def readable(cursor: str) -> bool:
    """Whether ``cursor`` is one this module signed (``seek`` ignores one that is not; the
    API refuses it)."""
    return _decode(cursor) is not None


def _value(obj: Model, field: str) -> Any:
    value = getattr(obj, field)
    return json.loads(json.dumps(value, default=str))


def _after(field: str, descending: bool, value: Any, pk: Any) -> Q:
    op = "lt" if descending else "gt"
    if field == "pk":
        return Q(**{f"pk__{op}": pk})
    return Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk})


def seek(
    queryset: QuerySet[M],
    *,
    order: str,
    size: int,
    after: str | None = None,
    before: str | None = None,
) -> Page[M]:
    """One page of ``queryset`` ordered by ``order`` (``"name"``, ``"-total_spend"``, ``"-pk"``)."""
    descending = order.startswith("-")
    field = order.lstrip("-")
    ordering = [order, "-pk" if descending else "pk"] if field != "pk" else [order]
    reverse_ordering = [o[1:] if o.startswith("-") else f"-{o}" for o in ordering]
    total = queryset.order_by()[: COUNT_CAP + 1].count()
    cursor = _decode(after) if after else None
    back = _decode(before) if before and not cursor else None
    qs = queryset
    if cursor:
        qs = qs.filter(_after(field, descending, *cursor)).order_by(*ordering)
    elif back:
        qs = qs.filter(_after(field, not descending, *back)).order_by(*reverse_ordering)
    else:
        qs = qs.order_by(*ordering)
    rows = list(qs[: size + 1])
    has_more = len(rows) > size
    rows = rows[:size]
    if back:
        rows.reverse()

    def mark(obj: M) -> str:
        return _encode([None if field == "pk" else _value(obj, field), obj.pk])

    next_cursor = mark(rows[-1]) if rows and (has_more or back) else None
    prev_cursor = mark(rows[0]) if rows and (cursor or (back and has_more)) else None
    return Page(rows, next_cursor, prev_cursor, min(total, COUNT_CAP), total > COUNT_CAP)
