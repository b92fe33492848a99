"""The ``log`` transport: records each message in the log and marks it sent. Sends nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from huifang.messaging.models import Message

logger = logging.getLogger("huifang.messaging")


class LogTransport:
    key = "log"

    def deliver(self, messages: Sequence[Message], now: datetime) -> None:
        for message in messages:
            message.status = message.Status.SENT
            message.sent_at = now
            message.transport = self.key
            message.provider_ref = f"log-{message.pk}" if message.pk else "log"
            logger.debug(
                "message %s to customer %s via %s: template %s",
                message.pk,
                message.customer_id,
                message.channel,
                message.template,
            )
