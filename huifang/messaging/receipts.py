"""Delivery receipts (状态报告): what the carrier said became of a message we handed over.

A provider reports on its own id for the message (``Message.provider_ref``: Aliyun's
``BizId``, Tencent's ``SerialNo``), and Aliyun also echoes ours (``OutId``). A receipt moves a
message forward only: ``sent`` or ``uncertain`` → ``delivered`` (with the time it arrived) or
``failed`` (with the carrier's code). A receipt for an ``uncertain`` message settles the doubt —
the provider did take it. Anything else is left as it is, so a repeated receipt changes nothing.

A receipt can overtake our own record of the send: the dispatcher writes the provider's id only
once the whole batch has been handed over. Such a receipt (its message still ``sending``) is
counted as ``pending`` and the endpoint asks the provider to push it again later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from django.db.models import Q

from huifang.integrations.inbound import Report

from . import changes as told
from .models import Message

logger = logging.getLogger("huifang.messaging")

_OPEN = (Message.Status.SENT, Message.Status.UNCERTAIN)


@dataclass
class Tally:
    delivered: int = 0
    failed: int = 0
    unchanged: int = 0  # already delivered or failed: a repeat
    unknown: int = 0  # not ours (another system on the same account), or long gone
    pending: int = 0  # ours, but its send is not recorded yet: ask the provider again

    def __str__(self) -> str:
        return ", ".join(f"{f.name} {getattr(self, f.name)}" for f in fields(self))


def apply(provider_id: int, reports: Sequence[Report], *, now: datetime) -> Tally:
    """Apply a provider's receipts to the messages it sent; call inside a transaction."""
    tally = Tally()
    found = _messages(provider_id, reports)
    for report in reports:
        message = found.get(report.reference) or found.get(f"#{report.message_id}")
        if message is None:
            outcome = "pending" if _being_sent(provider_id, report) else "unknown"
        elif message.status == Message.Status.SENDING:
            outcome = "pending"
        else:
            outcome = _settle(message, report, now)
        setattr(tally, outcome, getattr(tally, outcome) + 1)
    if tally.unknown or tally.pending:
        logger.info("receipts for provider %s: %s", provider_id, tally)
    return tally


def _messages(provider_id: int, reports: Sequence[Report]) -> dict[str, Message]:
    """This provider's messages the reports name: by the provider's id, else by ours (``#42``)
    where the provider's id was never recorded (an ``uncertain`` or still ``sending`` one)."""
    references = {r.reference for r in reports if r.reference}
    ours = {r.message_id for r in reports if r.message_id is not None}
    if not references and not ours:
        return {}
    condition = Q(provider_ref__in=references) | Q(pk__in=ours, provider_ref="")
    found: dict[str, Message] = {}
    rows = Message.objects.filter(condition, provider_id=provider_id).only(
        "status", "provider_ref", "sent_at"
    )
    for message in rows:
        found[message.provider_ref or f"#{message.pk}"] = message
    return found


def _being_sent(provider_id: int, report: Report) -> bool:
    """Whether this provider is sending to that number right now: the receipt is likely for a
    message whose provider id we have not written yet."""
    if not report.phone:
        return False
    return Message.objects.filter(
        provider_id=provider_id, status=Message.Status.SENDING, customer__phone=report.phone
    ).exists()


def _settle(message: Message, report: Report, now: datetime) -> str:
    at = report.at or now
    changes: dict[str, object] = {
        "provider_ref": message.provider_ref or report.reference[:100],
        "changed_at": now,  # recorded now, whenever the carrier dates it
    }
    if message.sent_at is None:  # an uncertain message: it did go, about then
        changes["sent_at"] = report.sent_at or at
    if report.delivered:
        changes.update(status=Message.Status.DELIVERED, delivered_at=at, error="")
    else:
        error = report.error or "the carrier reported a failed delivery"
        changes.update(status=Message.Status.FAILED, error=error[:500])
    # Conditional, so two pushes of one receipt racing each other settle it once.
    updated = Message.objects.filter(pk=message.pk, status__in=_OPEN).update(**changes)
    if not updated:
        return "unchanged"
    told.happened(told.DELIVERED if report.delivered else told.FAILED, [message.pk], now)
    return "delivered" if report.delivered else "failed"
