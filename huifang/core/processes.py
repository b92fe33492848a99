"""Long-running commands (``huifang engine``, ``huifang dispatch``) stop cleanly on a signal."""

from __future__ import annotations

import signal
import threading
from typing import Any


def stop_on_signals(stop: threading.Event) -> None:
    """SIGINT and SIGTERM set ``stop``, so the loop finishes its batch and returns.

    The event is set from a short-lived thread, never in the handler itself: the handler runs in
    the main thread, which may be inside ``stop.wait()`` holding the event's internal lock, and
    setting the event there would wait for that lock for ever (seen: a worker that never
    stopped on SIGTERM).
    """

    def handler(signum: int, frame: Any) -> None:
        threading.Thread(target=stop.set, name="stop", daemon=True).start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
