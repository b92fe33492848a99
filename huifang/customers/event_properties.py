"""How an event's properties read on a page: a label and a formatted value for each key.

An event arrives with JSON properties (``{"order_id": "A1", "amount": 1299}``); pages show them
as words (订单号 A1), never as the keys a developer wrote. The built-in keys are registered here
at start-up; an app that writes events of its own registers its keys in its ``AppConfig.ready()``
(tasks: the outcome of a follow-up, messaging: the message a click came from). A key nobody
registered — a custom event's — is shown under its own name, as the business chose it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huifang.core.registry import Registry

from .models import Channel, Consent, Event


@dataclass(frozen=True)
class PropertyType:
    key: str
    label: str | Promise
    # text | money | number | moment | list | reference | hidden
    kind: str = "text"
    choices: Mapping[str, str | Promise] = field(default_factory=dict)


event_properties: Registry[PropertyType] = Registry("event properties")

# Shown as the event's own badges (amount, CSAT, NPS, CES) when the event carries them.
BADGES = ("amount", "score", "nps", "ces")
SEPARATOR = "、"


def register_builtin_properties() -> None:
    if "order_id" in event_properties:
        return
    channels = dict(Channel.choices)
    for entry in (
        PropertyType("order_id", _("Order no.")),
        PropertyType("product", _("Product")),
        PropertyType("category", _("Category")),
        PropertyType("quantity", _("Quantity"), "number"),
        PropertyType("amount", _("Amount"), "money"),
        PropertyType("channel", _("Channel"), choices=channels),
        PropertyType("channels", _("Channels"), "list", choices=channels),
        PropertyType("ticket_id", _("Ticket no.")),
        PropertyType("topic", _("Topic")),
        PropertyType("subject", _("Subject")),
        PropertyType("text", _("Text")),
        PropertyType("reason", _("Reason")),
        PropertyType("contract_id", _("Contract no.")),
        PropertyType("plan", _("Plan")),
        PropertyType("seats", _("Seats"), "number"),
        PropertyType("ends_on", _("Ends on")),
        PropertyType("file", _("File")),
        PropertyType("event", _("Event name")),
        PropertyType("url", _("Address")),
        PropertyType("doctor", _("Doctor")),
        PropertyType("treatment", _("Treatment")),
        PropertyType("clinic", _("Clinic")),
        PropertyType("status", _("Status"), choices=dict(Consent.Status.choices)),
        PropertyType("method", _("How"), choices=dict(Consent.Method.choices)),
        PropertyType("text_version", _("Consent text version")),
        PropertyType("evidence", _("Evidence")),
        PropertyType(
            "scope",
            _("Withdrawn on"),
            choices={"all": _("every channel"), "channel": _("one channel")},
        ),
        PropertyType("score", _("Satisfaction"), "number"),
        PropertyType("nps", "NPS", "number"),
        PropertyType("ces", "CES", "number"),
    ):
        event_properties.register(entry)


@dataclass(frozen=True)
class Shown:
    key: str
    label: str
    value: str


def shown(event: Event, *, badges: bool = False) -> list[Shown]:
    """``event``'s properties as (label, value), in the order they were written, without the
    empty ones, the ones that are ids for the system and, unless ``badges``, the figures the
    event's badges show (amount, CSAT, NPS, CES)."""
    properties = event.properties if isinstance(event.properties, dict) else {}
    found = []
    for key, value in properties.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        if not badges and key in BADGES and getattr(event, key, None) is not None:
            continue
        entry = event_properties.get(key)
        if entry is not None and entry.kind == "hidden":
            continue
        label = str(entry.label) if entry is not None else key
        found.append(Shown(key, label, formatted(entry, value)))
    return found


def summary(event: Event, *, badges: bool = True) -> str:
    """One line: "Product: 空气净化器 · Amount: ¥1,299.00 · Order no.: A1"."""
    pair = gettext("%(label)s: %(value)s")
    return " · ".join(
        pair % {"label": s.label, "value": s.value} for s in shown(event, badges=badges)
    )


def formatted(entry: PropertyType | None, value: Any) -> str:
    kind = entry.kind if entry is not None else "text"
    if isinstance(value, list):
        return SEPARATOR.join(formatted(entry, item) for item in value if item not in (None, ""))
    if entry is not None and entry.choices and str(value) in entry.choices:
        return str(entry.choices[str(value)])
    if isinstance(value, dict):
        return " · ".join(f"{k}: {formatted(None, v)}" for k, v in value.items())
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if kind == "money":
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return f"¥{intcomma(f'{amount:.2f}')}"
    if kind == "number" and isinstance(value, int | float):
        return str(intcomma(value))
    if kind == "reference":
        return f"#{value}"
    if kind == "moment" and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None:
            return moment_text(moment)
    return str(value)


def moment_text(moment: datetime) -> str:
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return formats.date_format(moment, "Y-m-d H:i")
