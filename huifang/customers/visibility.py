"""Which customers a member of staff may see.

Every role sees every customer unless the organisation scopes customers to teams
(*Organisation settings → Privacy*); then agents see their team's customers and supervisors
those of the teams they lead. What a team's customers are is the tasks app's to say (owners in
the team, follow-up tasks of the team): it provides ``scope`` (customers never import it). Every
page, list and export of customers — and of what belongs to them, such as messages — asks here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet

from huifang.core.hooks import Port

from .models import Customer

# ``(user, customers) -> the customers among them the user may see``.
scope: Port[Callable[[Any, QuerySet[Customer]], QuerySet[Customer]]] = Port("customer scope")


def visible(user: Any, customers: QuerySet[Customer] | None = None) -> QuerySet[Customer]:
    customers = Customer.objects.all() if customers is None else customers
    return scope()(user, customers)


def can_see(user: Any, customer_id: int) -> bool:
    return visible(user, Customer.objects.filter(pk=customer_id)).exists()


def limit(user: Any, queryset: QuerySet[Any], field: str = "customer") -> QuerySet[Any]:
    """``queryset`` (of rows that belong to a customer through ``field``: messages, tasks …)
    narrowed to the customers ``user`` may see; untouched when the user sees every customer, so
    an unscoped page costs nothing more. Rows of no customer are kept only then."""
    everyone = Customer.objects.all()
    mine = visible(user, everyone)
    if mine is everyone:
        return queryset
    return queryset.filter(**{f"{field}__in": mine})
