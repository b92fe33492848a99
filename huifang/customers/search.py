"""Finding customers: by name, phone in any format or external id, plus list filters.

Every path here uses an index at 1,000,000 customers: a phone is normalised to E.164 and
matched exactly, a name is matched by prefix as a range on the name index, an external id
exactly. Part of a phone is found from either end: its last four digits or more (尾号 1234,
``phone_tail``), or its first digits as a range on the phone index; a province or city by
its first characters (广东 finds 广东省). A substring scan over a million rows would not stay
fast, so a part from the middle of a number finds nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huifang.core.limits import small_id

from .models import ContactPoint, Customer
from .phones import try_normalize_phone

_PHONE_LIKE = re.compile(r"^[+\d][\d\s\-().]{5,}$")
# Part of a phone: its last digits after 尾号, or 4 to 10 digits from either end.
_PHONE_PART = re.compile(r"(?:尾号\s*)?(\d{4,10})")
# Strings starting with the query sort between the query and the query followed by the largest
# code point, so a prefix match is a range scan on the name index in SQLite and PostgreSQL alike.
_PREFIX_END = "\U0010ffff"


@dataclass(frozen=True)
class SortOption:
    key: str
    label: str | Promise
    order: str


SORTS = (
    SortOption("newest", _("Newest first"), "-pk"),
    SortOption("name", _("Full name"), "name"),
    SortOption("spend", _("Total spend"), "-total_spend"),
    SortOption("orders", _("Orders"), "-order_count"),
)
SORTS_BY_KEY = {option.key: option for option in SORTS}


def _starting(column: str, text: str) -> Q:
    """``column`` starts with ``text``: a range, so its index serves it."""
    return Q(**{f"{column}__gte": text, f"{column}__lt": text + _PREFIX_END})


def _phone_part(text: str) -> Q | None:
    """Customers whose phone ends (尾号, 4 digits or more) or starts with ``text``'s digits."""
    part = _PHONE_PART.fullmatch(text)
    if part is None:
        return None
    digits = part.group(1)
    condition = Q(phone_tail=digits[-4:], phone__endswith=digits)
    if not part.group(0).startswith("尾号"):
        code = phonenumbers.country_code_for_region(settings.PHONE_DEFAULT_REGION)
        condition |= _starting("phone", f"+{code}{digits}")
    return condition


def search_q(text: str) -> Q | None:
    text = (text or "").strip()
    if not text:
        return None
    condition = Q(external_id=text) | _starting("name", text)
    part = _phone_part(text)
    if part is not None:
        condition |= part
    if _PHONE_LIKE.match(text):
        phone = try_normalize_phone(text)
        if phone:
            # Fetched first: an OR with a subquery would make PostgreSQL scan every customer.
            others = list(
                ContactPoint.objects.filter(kind=ContactPoint.Kind.PHONE, value=phone).values_list(
                    "customer_id", flat=True
                )[:100]
            )
            condition |= Q(phone=phone) | Q(pk__in=others)
    if "@" in text:
        condition |= Q(email=text.lower())
    return condition


@dataclass
class CustomerFilters:
    q: str = ""
    tier: str = ""
    stage: str = ""
    tag: str = ""
    province: str = ""
    city: str = ""
    owner: str = ""
    sort: str = "newest"

    @classmethod
    def from_query(cls, params: dict[str, str]) -> CustomerFilters:
        sort = params.get("sort", "newest")
        return cls(
            q=params.get("q", "").strip()[:100],
            tier=params.get("tier", ""),
            stage=params.get("stage", ""),
            tag=params.get("tag", ""),
            province=params.get("province", "").strip(),
            city=params.get("city", "").strip(),
            owner=params.get("owner", ""),
            sort=sort if sort in SORTS_BY_KEY else "newest",
        )

    def apply(self, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        condition = search_q(self.q)
        if condition is not None:
            queryset = queryset.filter(condition)
        if self.tier:
            queryset = queryset.filter(tier=self.tier)
        if self.stage:
            queryset = queryset.filter(lifecycle_stage=self.stage)
        if self.tag.isdigit():
            queryset = queryset.filter(tags__id=small_id(self.tag) or 0)
        if self.province:
            queryset = queryset.filter(_starting("province", self.province))
        if self.city:
            queryset = queryset.filter(_starting("city", self.city))
        if self.owner == "none":
            queryset = queryset.filter(owner__isnull=True)
        elif self.owner.isdigit():
            queryset = queryset.filter(owner_id=small_id(self.owner) or 0)
        return queryset

    @property
    def order(self) -> str:
        return SORTS_BY_KEY[self.sort].order

    @property
    def active(self) -> bool:
        return any([self.q, self.tier, self.stage, self.tag, self.province, self.city, self.owner])
