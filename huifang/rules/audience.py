"""Who a rule reaches now: the live audience shown while its conditions are edited.

The customer-level conditions of a rule are its ``audience`` and, for segment and recurring
triggers, the trigger's ``where`` (event triggers filter the event, not the customer, so only the
audience counts for them; a date trigger on a customer field needs that field set). They are
compiled with the engine's own ``compile_condition`` so the count is exactly what the engine
would select, in one ``COUNT`` and one sample query.

It runs on every change in the studio, so it must answer within a second at a million customers
(``bench/audience.py``): the columns conditions most often start from are indexed for it
(``customers`` migration 0002), and every customer is counted once. ``compile_condition`` tests
"has any of these tags" and "has no tags" with a join to the tags, which yields a customer once
per matching tag; here those tests become sub-selects (``id IN (…)``, ``NOT EXISTS``), and any
other join to a to-many relation makes the whole query a semi-join. That changes the SQL, never
who is selected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.sql.datastructures import Join
from django.utils import timezone

from huifang.customers.models import Customer

from .conditions import CUSTOMER_FIELDS, ConditionError, compile_condition

SAMPLE_SIZE = 10
_TAGS = CUSTOMER_FIELDS["tags"].lookup  # tags__name
_TAGS_IN = f"{_TAGS}__in"
_NO_TAGS = (f"{_TAGS.removesuffix('__name')}__isnull", True)


@dataclass
class Audience:
    count: int
    sample: list[Customer]
    errors: dict[str, str] = field(default_factory=dict)  # condition path → message
    conditions: int = 0  # how many leaf conditions were applied


def customer_condition(document: Mapping[str, Any], *, now: datetime | None = None) -> Q:
    """The ``Q`` over customers of a (possibly unfinished) rule document; raises
    ``ConditionError`` with a path that starts with ``trigger.where`` or ``audience``."""
    now = now or timezone.now()
    trigger = document.get("trigger") or {}
    kind = trigger.get("kind") if isinstance(trigger, Mapping) else None
    q = Q()
    if kind in ("segment", "recurring") and trigger.get("where"):
        q &= _compiled(trigger["where"], "trigger.where", now)
    if kind == "date" and trigger.get("field"):
        spec = CUSTOMER_FIELDS.get(str(trigger["field"]))
        if spec is not None:
            q &= Q(**{f"{spec.lookup}__isnull": False})
        elif str(trigger["field"]).startswith("attributes."):
            q &= Q(**{f"attributes__{trigger['field'].partition('.')[2]}__isnull": False})
    if document.get("audience"):
        q &= _compiled(document["audience"], "audience", now)
    return q


def _compiled(condition: Any, place: str, now: datetime) -> Q:
    try:
        return compile_condition(condition, now=now)
    except ConditionError as exc:
        raise ConditionError(f"{place}.{exc.path}".rstrip("."), exc.message) from None


def count_leaves(condition: Any) -> int:
    if isinstance(condition, Mapping):
        for group in ("all", "any"):
            if isinstance(condition.get(group), list):
                return sum(count_leaves(item) for item in condition[group])
        return 1
    return 0


def live_audience(
    document: Mapping[str, Any], *, now: datetime | None = None, sample: int = SAMPLE_SIZE
) -> Audience:
    """How many customers the rule's conditions select now, and the newest ``sample`` of them.

    An unfinished condition does not raise: its error is returned, keyed by its path, and the
    count is left at -1 so the page can say why there is no figure.
    """
    try:
        q = customer_condition(document, now=now)
    except ConditionError as exc:
        return Audience(-1, [], {exc.path: exc.message})
    trigger = document.get("trigger") or {}
    leaves = count_leaves(document.get("audience"))
    if isinstance(trigger, Mapping) and trigger.get("kind") in ("segment", "recurring"):
        leaves += count_leaves(trigger.get("where"))
    matching = _each_once(Customer.objects.filter(_without_tag_joins(q)))
    people = list(
        matching.order_by("-pk").only("pk", "name", "tier", "city", "time_zone", "do_not_contact")[
            :sample
        ]
    )
    # A sample shorter than asked is the whole audience: no need to count.
    total = len(people) if len(people) < sample else matching.count()
    return Audience(total, people, conditions=leaves)


def _without_tag_joins(q: Q) -> Q:
    """``q`` with its tag tests as sub-selects of the customer–tag table instead of joins: "has
    any of these tags" as ``id IN (customers with one of them)``, "has no tags" as ``NOT EXISTS``.
    A join yields a customer once per matching tag; a sub-select once, and reads only the small
    customer–tag index rather than joining it row by row."""
    children: list[Any] = []
    for child in q.children:
        if isinstance(child, Q):
            child = _without_tag_joins(child)
        elif isinstance(child, tuple) and child[0] == _TAGS_IN:
            tagged = Customer.tags.through.objects.filter(tag__name__in=child[1])
            child = ("pk__in", tagged.values("customer_id"))
        elif child == _NO_TAGS:
            tagged = Customer.tags.through.objects.filter(customer_id=OuterRef("pk"))
            child = ~Q(Exists(tagged))
        children.append(child)
    return Q.create(children, connector=q.connector, negated=q.negated)


def _each_once(matching: QuerySet[Customer]) -> QuerySet[Customer]:
    """``matching`` without repeats: a query that still joins a to-many relation (one a future
    condition may bring) becomes ``id IN (…)``. Most queries join nothing and are left alone."""
    for table in matching.query.alias_map.values():
        field = table.join_field if isinstance(table, Join) else None
        if getattr(field, "one_to_many", False) or getattr(field, "many_to_many", False):
            return Customer.objects.filter(pk__in=matching.values("pk"))
    return matching
