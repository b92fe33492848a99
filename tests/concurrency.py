"""Several writers at the same moment on PostgreSQL: threads, each on its own database
connection, released together. (SQLite has one writer at a time: nothing to race there.)"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="needs PostgreSQL: concurrent writers",
    ),
]


def side_by_side(work: Callable[[int], Any], workers: int = 4) -> list[Any]:
    """Run ``work(n)`` for n in 0 … workers-1, each in its own thread (its own connection),
    all released at once; what each returned, or re-raise what any of them raised."""
    start = threading.Barrier(workers)
    results: list[Any] = [None] * workers
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait(timeout=30)
            results[n] = work(n)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,), name=f"writer-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert errors == []
    return results
