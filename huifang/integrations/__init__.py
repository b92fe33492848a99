"""Channel integrations: one folder per kind of provider, each with a transport.

A transport takes messages the contact-pressure gate has let through and hands them to its
provider. The engine only knows this contract; which transport serves which channel is decided
here. Until a provider is configured for a channel, its messages go to the ``log`` transport,
which records them without sending anything, so the whole engine runs end to end.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from huifang.core.registry import Registry

if TYPE_CHECKING:
    from huifang.outbox.models import Message


class Transport(Protocol):
    key: str

    def deliver(self, messages: Sequence[Message], now: datetime) -> None:
        """Hand ``messages`` over; set each one's status, ``sent_at`` and ``provider_ref``."""


transports: Registry[Transport] = Registry("transports")


def transport_for(channel: str) -> Transport:
    from .log.transport import LogTransport

    if "log" not in transports:
        transports.register(LogTransport())
    return transports["log"]
