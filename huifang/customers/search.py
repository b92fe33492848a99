"""Finding customers: by name, phone in any format or external id, plus list filters.

Every path here uses an index at 1,000,000 customers: a phone is normalised to E.164 and
matched exactly, a name is matched by prefix as a range on the name index, an external id
exactly. A substring scan over a million names would not stay fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huifang.core.limits import small_id

from .models import ContactPoint, Customer
from .phones import try_normalize_phone

_PHONE_LIKE = re.compile(r"^[+\d][\d\s\-().]{5,}$")
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


def search_q(text: str) -> Q | None:
    text = (text or "").strip()
    if not text:
        return None
    condition = Q(external_id=text) | Q(name__gte=text, name__lt=text + _PREFIX_END)
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
            queryset = queryset.filter(province=self.province)
        if self.city:
            queryset = queryset.filter(city=self.city)
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
