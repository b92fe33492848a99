"""``{% pii customer "phone" %}``: a personal detail, masked, with the button that shows it
in full (an audited reveal, ``huifang.customers.pii``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from huifang.accounts.permissions import can
from huifang.customers import pii as personal

register = template.Library()


@register.inclusion_tag("customers/_pii.html", takes_context=True)
def pii(context: template.Context, customer: Any, field: str, point: Any = None) -> dict[str, Any]:
    """``field``: one of the customer's ``FIELDS`` or ``attributes.<key>``; with ``point`` (a
    ``ContactPoint``), that further number or address."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if point is not None:
        field, kind, value = f"contact-{point.pk}", point.kind, point.value
    elif field.startswith(personal.ATTRIBUTE):
        key = field.removeprefix(personal.ATTRIBUTE)
        kind, value = personal.TEXT, personal.attribute_text(customer.attributes.get(key, ""))
    else:
        kind, value = personal.kind_of(field), str(getattr(customer, field, "") or "")
    return {
        "customer": customer,
        "field": field,
        "masked": personal.mask(kind, value),
        "can_reveal": bool(value) and can(user, "customer", "reveal"),
        "reason_required": settings.HUIFANG_REVEAL_REASON_REQUIRED,
    }
