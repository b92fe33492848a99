"""Messages to customers (and staff notifications) as CSV or Excel (xlsx): the message log's
rows with its filters (status, channel, rule, customer, customer search, days on the viewer's
calendar), among the customers the user may see (``customers.visibility.limit``), newest last.

The customer's phone is masked, and the customer's phone and e-mail are masked wherever the
subject, the body or the provider's answer holds them (``messaging.log.redact``, as the log's
pages show them), unless the caller asks for them in full for someone who may reveal."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from huifang.core.exports import pages
from huifang.customers import pii, visibility
from huifang.messaging.log import MessageFilters, channel_label, redact, status_note
from huifang.messaging.models import Message
from huifang.organisation.zones import organisation_zone, viewer_zone

NAME = "messages"
OBJECT_TYPE = "messaging.message"
FILTERS = ("status", "channel", "rule", "customer", "q", "from", "to")
FIELDS = (
    "id",
    "created_at",
    "customer__external_id",
    "customer__name",
    "customer__phone",
    "customer__email",
    "rule__name",
    "step",
    "channel",
    "channels",
    "template",
    "template_version__number",
    "status",
    "reason",
    "error",
    "subject",
    "body",
    "planned_at",
    "sent_at",
    "delivered_at",
    "attempts",
    "provider_ref",
    "provider__name",
)


def sheet() -> str:
    return _("Messages")


def found(user: Any, params: Mapping[str, str]) -> tuple[QuerySet[Message], str]:
    """The messages the log's filters in ``params`` select among those ``user`` may see, and
    the filters as a query string (for the audit log)."""
    filters = MessageFilters.from_query(dict(params.items()))
    messages = filters.apply(visibility.limit(user, Message.objects.all()), viewer_zone(user))
    asked = {key: params[key] for key in FILTERS if params.get(key)}
    return messages, urlencode(asked)


def header() -> list[str]:
    return [
        _("Message number"),
        _("Created"),
        _("Customer number"),
        _("Customer name"),
        _("Phone"),
        _("Rule"),
        _("Step"),
        _("Channel"),
        _("Template"),
        _("Template version"),
        _("Status"),
        _("Why"),
        _("Subject"),
        _("Body"),
        _("Planned at"),
        _("Sent at"),
        _("Delivered at"),
        _("Attempts"),
        _("Provider"),
        _("Provider message id"),
    ]


def lines_of(messages: QuerySet[Message], *, reveal: bool) -> Iterator[list[Any]]:
    """The header, then one line per message of ``messages`` in the order they were made."""
    yield header()
    zone = organisation_zone()
    statuses = {k: str(v) for k, v in Message.Status.choices}

    def moment(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    # Only what the export shows is read: the rows are model instances for ``status_note``,
    # ``channel_label`` and ``redact``, which read the message and its customer.
    rows = messages.select_related("customer", "rule", "template_version", "provider").only(*FIELDS)
    for page in pages(rows):
        for m in page:
            customer = m.customer
            phone = customer.phone if customer else ""
            note = status_note(m)  # the provider's error among others, redacted
            if reveal and m.error and note == redact(m.error, customer):
                note = m.error
            yield [
                m.pk,
                moment(m.created_at),
                (customer.external_id or "") if customer else "",
                customer.name if customer else _("Staff notification"),
                phone if reveal else pii.mask("phone", phone),
                m.rule.name if m.rule else "",
                m.step,
                channel_label(m) or (m.provider.name if m.provider else ""),
                m.template,
                m.template_version.number if m.template_version else "",
                statuses.get(m.status, m.status),
                note,
                m.subject if reveal else redact(m.subject, customer),
                m.body if reveal else redact(m.body, customer),
                moment(m.planned_at),
                moment(m.sent_at),
                moment(m.delivered_at),
                m.attempts,
                m.provider.name if m.provider else "",
                m.provider_ref,
            ]
