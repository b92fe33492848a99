"""The message log: which messages a filter selects, and how one message's fate is told.

Staff read this to answer "did the customer get it, and if not, why?" — so every status comes
with its explanation (the gate's reason, the provider's error, or what to do about an uncertain
send), and the customer's phone and e-mail never appear unmasked, even where a provider's
answer happens to echo them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huifang.core.limits import day_in_range, small_id
from huifang.customers.models import Channel, Customer
from huifang.customers.phones import mask_phone
from huifang.customers.pii import mask_email
from huifang.customers.search import search_q

from .models import Message, Reason

# A customer search narrows the log to at most this many customers (the ones found first).
SEARCH_LIMIT = 100

UNCERTAIN = _(
    "The worker stopped after handing it over; check with the provider before sending again."
)
ACTIONS: dict[str, Promise] = {
    "send": _("Released"),
    "defer": _("Held"),
    "drop": _("Dropped"),
}


def reason_label(value: str) -> str:
    """The label of a gate reason; an unknown one (from a newer version) as it is stored."""
    return str(Reason(value).label) if value in Reason.values else value


def status_note(message: Message) -> str:
    """Why a message is where it is, in one line (empty when the status says it all)."""
    status = message.status
    if status == Message.Status.UNCERTAIN:
        return str(UNCERTAIN)
    if status in (Message.Status.FAILED, Message.Status.QUEUED) and message.error:
        # A queued message with an error is waiting to try again after it.
        return redact(message.error, message.customer)
    # ``reason`` outlives a hold (a message held for quiet hours keeps it once sent), so it
    # explains only the statuses a reason leads to — and a queued message held at the last look.
    held = (Message.Status.DEFERRED, Message.Status.DROPPED, Message.Status.CANCELLED)
    if message.reason and status in (*held, Message.Status.QUEUED):
        return reason_label(message.reason)
    return ""


def channel_label(message: Message) -> str:
    """The channel it went out on; before the gate chose one, the ones it could take."""
    labels = dict(Channel.choices)
    chosen = [message.channel] if message.channel else list(message.channels)
    return " / ".join(str(labels.get(c, c)) for c in chosen)


@dataclass(frozen=True)
class Row:
    """One line of the log."""

    message: Message
    note: str
    channel: str

    @classmethod
    def of(cls, message: Message) -> Row:
        return cls(message, status_note(message), channel_label(message))


def _day(text: str) -> date | None:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return day if day_in_range(day) else None  # a day whose start or end a zone can't reach


@dataclass
class MessageFilters:
    status: str = ""
    channel: str = ""
    rule: str = ""
    customer: str = ""  # a customer's id, from links to "this customer's messages"
    q: str = ""  # a customer search: name prefix, phone, external id or e-mail
    start: str = ""  # YYYY-MM-DD, a day on the viewer's calendar
    end: str = ""

    @classmethod
    def from_query(cls, params: dict[str, str]) -> MessageFilters:
        return cls(
            status=params.get("status", "")
            if params.get("status") in Message.Status.values
            else "",
            channel=params.get("channel", ""),
            rule=params.get("rule", "") if small_id(params.get("rule", "")) else "",
            customer=params.get("customer", "") if small_id(params.get("customer", "")) else "",
            q=params.get("q", "").strip()[:100],
            start=params.get("from", "") if _day(params.get("from", "")) else "",
            end=params.get("to", "") if _day(params.get("to", "")) else "",
        )

    def apply(self, queryset: QuerySet[Message], zone: ZoneInfo) -> QuerySet[Message]:
        if self.status:
            queryset = queryset.filter(status=self.status)
        if self.channel:
            queryset = queryset.filter(channel=self.channel)
        if self.rule:
            queryset = queryset.filter(rule_id=int(self.rule))
        if self.customer:
            queryset = queryset.filter(customer_id=int(self.customer))
        condition = search_q(self.q)
        if condition is not None:
            # Ids first: the customer search uses its own indexes, the log then its own.
            found = list(
                Customer.objects.filter(condition).values_list("pk", flat=True)[:SEARCH_LIMIT]
            )
            queryset = queryset.filter(customer_id__in=found)
        # Whole days on the viewer's calendar: "to 11-02" includes the evening of 11-02.
        start, end = _day(self.start), _day(self.end)
        if start:
            queryset = queryset.filter(created_at__gte=datetime.combine(start, time.min, zone))
        if end:
            after = datetime.combine(end + timedelta(days=1), time.min, zone)
            queryset = queryset.filter(created_at__lt=after)
        return queryset

    @property
    def active(self) -> bool:
        fields = (self.status, self.channel, self.rule, self.customer, self.q, self.start)
        return any((*fields, self.end))


@dataclass(frozen=True)
class Decision:
    at: datetime
    action: str
    label: str
    reason: str
    until: datetime | None
    channel: str
    by: str


def decisions(message: Message) -> list[Decision]:
    """The gate's decisions on ``message``, in the order they were taken."""
    found = []
    for record in message.decisions:
        if not isinstance(record, dict) or "at" not in record:
            continue
        action = str(record.get("action", ""))
        until = record.get("until")
        found.append(
            Decision(
                at=datetime.fromisoformat(record["at"]),
                action=action,
                label=str(ACTIONS.get(action, action)),
                reason=reason_label(str(record.get("reason", ""))),
                until=datetime.fromisoformat(until) if until else None,
                channel=str(record.get("channel", "")),
                by=str(record.get("by", "")),
            )
        )
    return found


def redact(text: str, customer: Customer | None) -> str:
    """``text`` with the customer's phone and e-mail masked wherever they appear (a provider's
    answer may list the number it sent to, in any of its usual spellings)."""
    if not text or customer is None:
        return text
    if customer.phone:
        digits = customer.phone.lstrip("+")
        masked = mask_phone(customer.phone)
        national = customer.phone_display.replace(" ", "").replace("-", "")
        spellings = {customer.phone, digits, customer.phone_display, national}
        for spelling in sorted((s for s in spellings if len(s) >= 7), key=len, reverse=True):
            text = text.replace(spelling, masked)
    if customer.email:
        text = re.sub(re.escape(customer.email), mask_email(customer.email), text, flags=re.I)
    return text


def customer_label(customer: Customer) -> str:
    """How a customer is named where their phone must stay masked: name and masked phone."""
    return f"{customer.name} · {customer.phone_masked}" if customer.phone else customer.name


def for_display(message: Message, fields: tuple[str, ...]) -> dict[str, Any]:
    """The message's text ``fields``, redacted for its customer."""
    return {name: redact(str(getattr(message, name)), message.customer) for name in fields}
