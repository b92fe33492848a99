"""Channel integrations: one folder per kind of provider, each with a transport.

A transport takes messages the contact-pressure gate has let through and hands them to its
provider. The engine only knows this contract; which transport serves which channel is decided
here. Until a provider is configured for a channel, its messages go to the ``log`` transport,
which records them without sending anything, so the whole engine runs end to end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from huifang.core.registry import Registry

if TYPE_CHECKING:
    from huifang.messaging.models import Message


class BatchTransport(Protocol):
    """How the engine hands a batch of gated messages over today (the ``log`` transport).

    Channels that reach people implement ``base.Transport`` (one message, a receipt or a
    ``TransportError``); the dispatch loop that drives them replaces this hand-off.
    """

    key: str

    def deliver(self, messages: Sequence[Message], now: datetime) -> None:
        """Hand ``messages`` over; set each one's status, ``sent_at`` and ``provider_ref``."""


transports: Registry[BatchTransport] = Registry("transports")
# Which transport serves which channel, filled in as providers are configured.
providers: dict[str, BatchTransport] = {}


_dry_run: ContextVar[bool] = ContextVar("huifang_dry_run", default=False)


@contextmanager
def dry_run() -> Iterator[None]:
    """Within this block every message goes to the ``log`` transport (simulation, previews)."""
    token = _dry_run.set(True)
    try:
        yield
    finally:
        _dry_run.reset(token)


def transport_for(channel: str) -> BatchTransport:
    """The transport serving ``channel``: ``log`` until a provider is configured for it."""
    from .log.transport import LogTransport

    if "log" not in transports:
        transports.register(LogTransport())
    provider = None if _dry_run.get() else providers.get(channel)
    return provider or transports["log"]
