"""A worker stops on SIGTERM even when the signal lands while it waits on its stop event."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest

from huifang.core.processes import stop_on_signals


@pytest.fixture
def handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def test_the_signal_handler_never_waits_for_the_lock_its_own_thread_holds(
    handlers: None,
) -> None:
    stop = threading.Event()
    stop_on_signals(stop)
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)

    def interrupted_while_waiting() -> None:
        # The handler runs in the thread that was inside stop.wait(), at a moment it holds the
        # event's lock: setting the event right there would block this thread for ever.
        with stop._cond:  # type: ignore[attr-defined]
            handler(signal.SIGTERM, None)

    worker = threading.Thread(target=interrupted_while_waiting, daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "the handler deadlocked"
    assert stop.wait(timeout=5)


def test_sigint_stops_too(handlers: None) -> None:
    stop = threading.Event()
    stop_on_signals(stop)
    handler = signal.getsignal(signal.SIGINT)
    assert callable(handler)
    handler(signal.SIGINT, None)
    assert stop.wait(timeout=5)
