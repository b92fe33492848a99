"""The audit log as CSV or Excel (xlsx): the entries the audit page's filters select (action,
actor, object, from and to days), oldest first, with each entry's hash and the hash before it so
that a copy can be checked against the chain. Administrators only; entries hold no unmasked
personal value (``audit.services.record``), so there is nothing to reveal."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.views import WORDS, filtered
from huifang.core.exports import pages
from huifang.organisation.zones import organisation_zone

NAME = "audit"
OBJECT_TYPE = "audit.entry"
FILTERS = ("action", "actor", "object", "from", "to")
FIELDS = (
    "id",
    "seq",
    "at",
    "actor",
    "action",
    "verb",
    "object_type",
    "object_id",
    "object_repr",
    "details",
    "reason",
    "ip",
    "previous",
    "digest",
)


def sheet() -> str:
    return _("Audit log")


def found(params: Mapping[str, str]) -> tuple[QuerySet[Entry], str]:
    entries, _shown = filtered(params)
    asked = {key: params[key] for key in FILTERS if params.get(key)}
    return entries, urlencode(asked)


def header() -> list[str]:
    return [
        _("Number"),
        _("At"),
        _("By"),
        _("Action"),
        _("What"),
        _("Object type"),
        _("Object id"),
        _("Object"),
        _("Details"),
        _("Reason"),
        _("IP address"),
        _("Previous hash"),
        _("Hash"),
    ]


def lines_of(entries: QuerySet[Entry], *, reveal: bool = False) -> Iterator[list[Any]]:
    """The header, then one line per entry, in the order of the chain."""
    yield header()
    zone = organisation_zone()
    actions = {k: str(v) for k, v in Entry.Action.choices}
    for page in pages(entries.values_list(*FIELDS)):
        for (
            _pk,
            seq,
            at,
            actor,
            action,
            verb,
            kind,
            oid,
            text,
            details,
            why,
            ip,
            prev,
            digest,
        ) in page:
            yield [
                seq,
                at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                actor,
                actions.get(action, action),
                str(WORDS.get(verb, verb)),
                kind,
                oid,
                text,
                json.dumps(details, ensure_ascii=False) if details else "",
                why,
                ip or "",
                prev,
                digest,
            ]
