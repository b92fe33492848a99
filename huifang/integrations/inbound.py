"""What comes back from providers, as every kind hands it on: delivery receipts and replies.

Each kind's ``inbound.py`` parses its provider's pushes into these plain records and hands them
to ``inbox()``; messaging, which owns the messages they are about, provides the inbox (in its
``AppConfig.ready()``) and applies them. Integrations never import messaging
(docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from huifang.core.hooks import Port


@dataclass(frozen=True)
class Report:
    """A delivery receipt (状态报告)."""

    reference: str  # the provider's id for the message
    delivered: bool
    at: datetime | None = None  # when the carrier delivered it (or gave up)
    sent_at: datetime | None = None  # when the provider handed it to the carrier
    error: str = ""  # the carrier's code and text, for a failure
    message_id: int | None = None  # ours, where the provider echoes it (Aliyun ``out_id``)
    phone: str = ""  # E.164: tells a message still being recorded from a stranger's


@dataclass(frozen=True)
class SmsReply:
    phone: str  # E.164, or empty when the provider's number was not one
    text: str
    received_at: datetime | None
    provider_ref: str  # the same push repeated carries the same reference


@dataclass(frozen=True)
class EmailReply:
    address: str  # the sender, lower-case
    text: str
    subject: str
    message_ids: tuple[str, ...]  # ``In-Reply-To``: the Message-IDs it answers
    ours: tuple[int, ...]  # our message ids read from those Message-IDs' ``hf<id>`` part
    reference: str  # the reply's own Message-ID (or a digest): a repeat counts once


class Inbox(Protocol):
    def receipts(self, provider_id: int, reports: Sequence[Report], now: datetime) -> int:
        """Apply receipts; returns how many are for messages still being recorded (the
        provider is asked to push those again)."""
        ...

    def sms_reply(self, reply: SmsReply, now: datetime) -> None: ...

    def email_reply(self, reply: EmailReply, now: datetime) -> dict[str, Any]:
        """``{"recorded": bool, "event": id, "message": id}`` or a reason it was not."""
        ...


inbox: Port[Inbox] = Port("the inbox for receipts and replies")
