"""Who a rule reaches now: the live audience shown while its conditions are edited.

The customer-level conditions of a rule are its ``audience`` and, for segment and recurring
triggers, the trigger's ``where`` (event triggers filter the event, not the customer, so only the
audience counts for them; a date trigger on a customer field needs that field set). They are
compiled with the engine's own ``compile_condition`` so the count is exactly what the engine
would select, in one ``COUNT`` and one sample query.

It runs on every change in the studio, so it must answer within a second at a million customers
(``bench/audience.py``): the columns conditions most often start from are indexed for it
(``customers`` migration 0002). Tag conditions compile to sub-selects, never joins, so every
customer is counted once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.customers.models import Customer
from huifang.rules.conditions import ConditionError, compile_condition, field_spec

SAMPLE_SIZE = 10


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
        spec = field_spec(str(trigger["field"]))
        if spec is None:
            raise ConditionError(
                "trigger.field",
                _("“%(field)s” is not a field you can filter on.") % {"field": trigger["field"]},
            )
        q &= Q(**{f"{spec.lookup}__isnull": False})
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
    matching = Customer.objects.filter(q)
    people = list(
        matching.order_by("-pk").only("pk", "name", "tier", "city", "time_zone", "do_not_contact")[
            :sample
        ]
    )
    # A sample shorter than asked is the whole audience: no need to count.
    total = len(people) if len(people) < sample else matching.count()
    return Audience(total, people, conditions=leaves)
