"""A real ``huifang worker`` process sends the deliveries: nothing else has to run."""

from __future__ import annotations

from typing import Any

from huifang.subscriptions.models import Delivery
from tests.processes import Database, stop

from .receiver import SECRET, inbox

TABLE = Delivery._meta.db_table


def test_the_worker_delivers_a_completed_task(database: Database, receiver: Any) -> None:
    database.script("tests.subscriptions.worker_seed", receiver, SECRET)
    worker = database.process("worker", "--no-engine", OUTBOUND_HTTP_ALLOW="127.0.0.1")
    try:
        database.wait_until(
            lambda: bool(inbox.accepted),
            lambda: database.query(f"SELECT status, last_error FROM {TABLE}"),  # noqa: S608
            timeout=60,
        )
        database.wait_until(
            lambda: database.query(f"SELECT status FROM {TABLE}") == [("delivered",)],  # noqa: S608
            lambda: database.query(f"SELECT status, last_error FROM {TABLE}"),  # noqa: S608
            timeout=30,
        )
    finally:
        stop(worker)
    (request,) = inbox.requests
    assert request.verified and request.body["type"] == "task.completed"
