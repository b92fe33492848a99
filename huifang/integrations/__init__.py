"""Channel integrations: one folder per kind of provider, each with its transport.

The dispatcher (``huifang.messaging.dispatch``) hands each message to the transport of the
provider serving its channel (``huifang.integrations.models.Provider``). A channel with no
enabled provider goes to the ``log`` transport, which records the message and sends nothing,
so a fresh installation runs end to end; the channels page says which channels are only logged.
Within ``dry_run()`` (simulations, previews) every message goes to ``log``, and no task
reminder is planned: nothing reaches anyone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_dry_run: ContextVar[bool] = ContextVar("huifang_dry_run", default=False)


@contextmanager
def dry_run() -> Iterator[None]:
    """Within this block every message goes to the ``log`` transport and no task reminder is
    planned (simulation, previews)."""
    token = _dry_run.set(True)
    try:
        yield
    finally:
        _dry_run.reset(token)


def is_dry_run() -> bool:
    return _dry_run.get()
