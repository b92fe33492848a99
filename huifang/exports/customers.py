"""The customer list as CSV or Excel (xlsx): the rows the list's filters find among the customers
the user may see, one a row. Phone, e-mail, WeCom id and personal custom attributes are masked
unless the caller asks for them in full for someone who may reveal them (the caller decides and
audits: ``tables.audit``).

The rows are read as tuples, a keyset page at a time (``core.exports.pages``), with the page's
tags in one more statement: no model instances, no cursor held open, memory for one page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from huifang.core.exports import pages
from huifang.customers import pii
from huifang.customers.models import Customer, LifecycleStage, Tier
from huifang.organisation.zones import organisation_zone

NAME = "customers"
OBJECT_TYPE = "customers.customer"

COLUMNS = (
    "pk",
    "external_id",
    "name",
    "phone",
    "email",
    "wecom_external_userid",
    "gender",
    "birthday",
    "tier",
    "lifecycle_stage",
    "province",
    "city",
    "company",
    "source",
    "business_line",
    "owner__username",
    "order_count",
    "total_spend",
    "spend_12m",
    "last_purchase_at",
    "last_contact_at",
    "last_satisfaction",
    "last_nps",
    "complaint_count",
    "do_not_contact",
    "attributes",
    "created_at",
)


def sheet() -> str:
    return _("Customers")


def header() -> list[str]:
    return [
        _("Customer number"),
        _("Customer name"),
        _("Phone"),
        pgettext("field", "E-mail"),
        _("WeCom external user id"),
        _("Gender"),
        _("Birthday"),
        _("Tier"),
        _("Lifecycle stage"),
        _("Province"),
        _("City"),
        _("Company"),
        _("Source"),
        _("Business line"),
        _("Owner"),
        _("Tags"),
        _("Orders"),
        _("Total spend"),
        _("Spend in the last 12 months"),
        _("Last purchase"),
        _("Last contact"),
        _("Satisfaction (latest)"),
        _("NPS (latest)"),
        _("Complaints"),
        _("Do not contact"),
        _("Custom attributes"),
        _("Created"),
    ]


def lines_of(customers: QuerySet[Customer], *, reveal: bool) -> Iterator[list[Any]]:
    """The header, then one line per customer of ``customers`` in the order they were created."""
    yield header()
    zone = organisation_zone()
    tiers = {k: str(v) for k, v in Tier.choices}
    stages = {k: str(v) for k, v in LifecycleStage.choices}
    genders = {"f": _("Female"), "m": _("Male")}
    yes = _("Yes")
    through = Customer.tags.through

    def moment(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""

    def shown(kind: str, value: str | None) -> str:
        return (value or "") if reveal else pii.mask(kind, value or "")

    for page in pages(customers.values_list(*COLUMNS)):
        tags: dict[int, list[str]] = {}
        for cid, tag in through.objects.filter(
            customer_id__in=[row[0] for row in page]
        ).values_list("customer_id", "tag__name"):
            tags.setdefault(cid, []).append(tag)
        for (
            pk,
            external_id,
            name,
            phone,
            email,
            wecom,
            gender,
            birthday,
            tier,
            stage,
            province,
            city,
            company,
            source,
            business_line,
            owner,
            orders,
            spend,
            spend_12m,
            last_purchase,
            last_contact,
            satisfaction,
            nps,
            complaints,
            do_not_contact,
            attributes,
            created,
        ) in page:
            if attributes and not reveal:
                attributes = pii.masked_attributes(attributes)
            yield [
                external_id or "",
                name,
                shown("phone", phone),
                shown("email", email),
                shown("wecom", wecom),
                genders.get(gender, ""),
                birthday.isoformat() if birthday else "",
                tiers.get(tier, tier),
                stages.get(stage, stage),
                province,
                city,
                company,
                source,
                business_line,
                owner or "",
                "、".join(sorted(tags.get(pk, ()))),
                orders,
                float(spend) if spend is not None else "",
                float(spend_12m) if spend_12m is not None else "",
                moment(last_purchase),
                moment(last_contact),
                satisfaction if satisfaction is not None else "",
                nps if nps is not None else "",
                complaints,
                yes if do_not_contact else "",
                json.dumps(attributes, ensure_ascii=False) if attributes else "",
                moment(created),
            ]
