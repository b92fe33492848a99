"""Personal contact details: masked by default on every page, export and API answer; shown in
full only by ``reveal``, a deliberate action per field that is recorded in the audit log and
limited per user (DESIGN.md invariant 9).

``FIELDS`` are the customer's own columns; further numbers and addresses (``ContactPoint``)
are masked by kind with ``mask``; custom attributes named in ``PII_ATTRIBUTES`` (an address, an
id number) are details too, under the field name ``attributes.<key>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.services import actor_of, record

from .models import ContactPoint, Customer
from .phones import mask_phone

# The field of each kind of personal detail.
FIELDS = ("phone", "email", "wecom_external_userid")
KIND_OF = {"phone": "phone", "email": "email", "wecom_external_userid": "wecom"}


def mask_email(address: str) -> str:
    """``wangfang@example.cn`` → ``w***@example.cn``."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if at else "***"


def mask_id(value: str) -> str:
    """A WeCom / WeChat id: its first two and last two characters."""
    if len(value) <= 6:
        return "*" * len(value)
    return f"{value[:2]}****{value[-2:]}"


def mask_text(value: str) -> str:
    """Free text such as an address: its first three characters (``广东省****``)."""
    return f"{value[:3]}****" if len(value) > 3 else "****"


ATTRIBUTE = "attributes."
TEXT = "text"  # the kind of a personal attribute


def mask(kind: str, value: str) -> str:
    """``value`` of ``kind`` (``phone``, ``email``, ``wecom``, ``text``) as shown by default."""
    if not value:
        return ""
    if kind == ContactPoint.Kind.PHONE:
        return mask_phone(value)
    if kind == ContactPoint.Kind.EMAIL:
        return mask_email(value)
    if kind == TEXT:
        return mask_text(value)
    return mask_id(value)


def is_personal_attribute(key: str) -> bool:
    return key.casefold() in settings.HUIFANG_PII_ATTRIBUTES


def attribute_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def masked_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Custom attributes as shown by default: personal ones masked, the rest as they are."""
    return {
        key: mask(TEXT, attribute_text(value)) if is_personal_attribute(key) else value
        for key, value in attributes.items()
    }


def masked(customer: Any, field: str) -> str:
    return mask(KIND_OF[field], str(getattr(customer, field, "") or ""))


class RevealRefused(Exception):
    """The reveal was not allowed: the message says why, in the user's language; ``status``
    is the HTTP answer it maps to (429 when the hourly limit is reached)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Revealed:
    field: str
    value: str
    kind: str  # phone, email or wecom: how the value is linked and masked


def reveal(
    customer: Customer,
    field: str,
    *,
    user: Any,
    request: HttpRequest | None = None,
    reason: str = "",
    context: str = "",
) -> Revealed:
    """The full value of one of the customer's ``FIELDS``, recorded in the audit log with the
    reason and where it was asked for (``context``: "task 12", "customer page").

    Refused when the reason is required and missing, or when the user has revealed
    ``HUIFANG_REVEALS_PER_HOUR`` values in the last hour (a user reading the whole customer
    base one by one is stopped, and the refusals show up in the log)."""
    detail = detail_of(customer, field)
    if detail is None:
        raise RevealRefused(_("This field cannot be shown."))
    kind, value = detail
    reason = reason.strip()
    if settings.HUIFANG_REVEAL_REASON_REQUIRED and not reason:
        raise RevealRefused(_("Say why you need to see it: a reason is required."))
    limit = settings.HUIFANG_REVEALS_PER_HOUR
    actor_id, actor = actor_of(user)
    mine = {"actor_id": actor_id} if actor_id is not None else {"actor": actor}
    recent = Entry.objects.filter(
        action=Entry.Action.REVEAL,
        **mine,
        at__gte=timezone.now() - timedelta(hours=1),
    ).count()
    if recent >= limit:
        raise RevealRefused(
            _(
                "You have shown %(limit)s personal details in the last hour, the most allowed. "
                "Try again later, or ask an administrator."
            )
            % {"limit": limit},
            status=429,
        )
    record(
        Entry.Action.REVEAL,
        field,
        actor=user,
        request=request,
        target=customer,
        object_repr=customer.audit_label,
        details={"field": field, **({"where": context} if context else {})},
        reason=reason,
    )
    return Revealed(field, value, kind)


def detail_of(customer: Customer, field: str) -> tuple[str, str] | None:
    """(kind, full value) of ``field``: one of ``FIELDS``, ``contact-<id>`` (one of the
    customer's further numbers and addresses) or ``attributes.<key>`` (a personal custom
    attribute); ``None`` for anything else."""
    if field in FIELDS:
        return KIND_OF[field], str(getattr(customer, field) or "")
    if field.startswith(ATTRIBUTE):
        key = field.removeprefix(ATTRIBUTE)
        if not is_personal_attribute(key) or key not in (customer.attributes or {}):
            return None
        return TEXT, attribute_text(customer.attributes[key])
    prefix, _dash, pk = field.partition("-")
    if prefix == "contact" and pk.isdigit():
        point = customer.contact_points.filter(pk=int(pk)).first()
        return (point.kind, point.value) if point is not None else None
    return None


def kind_of(field: str) -> str:
    """The kind (``phone``, ``email``, ``wecom``, ``text``) a field holds, for its link and its
    mask."""
    if field.startswith(ATTRIBUTE):
        return TEXT
    return KIND_OF.get(field, "")
