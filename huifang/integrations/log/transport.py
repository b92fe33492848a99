"""The ``log`` transport: writes each message to the log and accepts it. Sends nothing.

Serves every channel that has no provider configured (and every message of a simulation).
"""

from __future__ import annotations

import logging

from huifang.integrations.base import Outgoing, Receipt

logger = logging.getLogger("huifang.messaging")


class LogTransport:
    key = "log"

    def send(self, outgoing: Outgoing) -> Receipt:
        logger.debug(
            "message %s via %s to %s: %s",
            outgoing.message_id,
            outgoing.channel,
            outgoing.to,
            outgoing.body[:200],
        )
        return Receipt(f"log-{outgoing.message_id}", "logged, not sent")
