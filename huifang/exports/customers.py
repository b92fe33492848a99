"""The customer list as CSV or Excel (xlsx): the rows the list's filters find among the customers
the user may see, one a row, streamed. Phone, e-mail, WeCom id and personal custom attributes
are masked unless the caller asks for them in full for someone who may reveal them (the caller
decides and audits). The writing — streamed CSV, xlsx in constant memory, formula cells
neutralised — is ``huifang.core.exports``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponseBase
from django.utils.translation import gettext as _

from huifang.core.exports import csv_response, xlsx_response
from huifang.customers import pii
from huifang.customers.models import Customer, LifecycleStage, Tier
from huifang.organisation.zones import organisation_zone

CHUNK = 2000


def export(customers: QuerySet[Customer], kind: str, *, reveal: bool) -> HttpResponseBase:
    lines = lines_of(customers, reveal=reveal)
    if kind == "xlsx":
        return xlsx_response(lines, "customers", _("Customers"))
    return csv_response(lines, "customers")


def header() -> list[str]:
    return [
        _("Customer number"),
        _("Customer name"),
        _("Phone"),
        _("E-mail"),
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
    yield header()
    zone = organisation_zone()
    tiers, stages = dict(Tier.choices), dict(LifecycleStage.choices)
    genders = {"f": _("Female"), "m": _("Male")}
    through = Customer.tags.through

    def moment(value: Any) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""

    rows = customers.select_related("owner").order_by("pk")
    batch: list[Customer] = []
    for customer in rows.iterator(chunk_size=CHUNK):
        batch.append(customer)
        if len(batch) == CHUNK:
            yield from _batch(batch, through, reveal, tiers, stages, genders, moment)
            batch = []
    if batch:
        yield from _batch(batch, through, reveal, tiers, stages, genders, moment)


def _batch(
    batch: list[Customer],
    through: Any,
    reveal: bool,
    tiers: dict[str, Any],
    stages: dict[str, Any],
    genders: dict[str, Any],
    moment: Any,
) -> Iterator[list[Any]]:
    tags: dict[int, list[str]] = {}
    for cid, name in through.objects.filter(customer_id__in=[c.pk for c in batch]).values_list(
        "customer_id", "tag__name"
    ):
        tags.setdefault(cid, []).append(name)
    for c in batch:
        attributes = c.attributes if reveal else pii.masked_attributes(c.attributes or {})
        yield [
            c.external_id or "",
            c.name,
            c.phone if reveal else pii.mask("phone", c.phone),
            c.email if reveal else pii.mask("email", c.email),
            c.wecom_external_userid if reveal else pii.mask("wecom", c.wecom_external_userid),
            str(genders.get(c.gender, "")),
            c.birthday.isoformat() if c.birthday else "",
            str(tiers.get(c.tier, c.tier)),
            str(stages.get(c.lifecycle_stage, c.lifecycle_stage)),
            c.province,
            c.city,
            c.company,
            c.source,
            c.business_line,
            c.owner.get_username() if c.owner else "",
            "、".join(sorted(tags.get(c.pk, []))),
            c.order_count,
            float(c.total_spend) if c.total_spend is not None else "",
            float(c.spend_12m) if c.spend_12m is not None else "",
            moment(c.last_purchase_at),
            moment(c.last_contact_at),
            c.last_satisfaction if c.last_satisfaction is not None else "",
            c.last_nps if c.last_nps is not None else "",
            c.complaint_count,
            _("Yes") if c.do_not_contact else "",
            json.dumps(attributes, ensure_ascii=False) if attributes else "",
            moment(c.created_at),
        ]
