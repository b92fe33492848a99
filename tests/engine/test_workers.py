"""Real worker processes sharing one database (SQLite file, or PostgreSQL when the suite runs
on it): no due step is processed twice, and a worker killed mid-batch loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from huifang.engine.models import DueStep
from tests.processes import Database, stop


def count(db: Database, *statuses: str) -> int:
    """Due steps in any of ``statuses``, in one query (one snapshot)."""
    marks = ", ".join(["%s"] * len(statuses))
    sql = f"SELECT count(*) FROM {DueStep._meta.db_table} WHERE status IN ({marks})"  # noqa: S608
    [(n,)] = db.query(sql, list(statuses))
    return int(n)


def state(db: Database) -> dict[str, Any]:
    return json.loads(db.script("tests.engine.crowd", "check"))


def worker(db: Database, **settings: str) -> subprocess.Popen[bytes]:
    return db.process("engine", **settings)


def wait_until(db: Database, predicate: Callable[[], bool], timeout: float = 120) -> None:
    db.wait_until(predicate, lambda: state(db), timeout=timeout)


def all_done(db: Database) -> bool:
    return count(db, "due", "claimed") == 0


def test_two_workers_never_process_a_step_twice(database: Database) -> None:
    database.script("tests.engine.crowd", "seed", "3000")
    small = {"ENGINE_BATCH_SIZE": "50", "ENGINE_POLL_MS": "10"}
    workers = [worker(database, **small), worker(database, **small)]
    try:
        wait_until(database, lambda: all_done(database))
    finally:
        stop(*workers)
    final = state(database)
    assert final["steps"] == {"done": 3000}
    assert final["claims"] == 3000  # each row was claimed once, by one of the two
    assert final["messages"] == 3000
    assert final["most_messages_per_enrollment"] == 1


def test_a_worker_killed_mid_batch_loses_nothing(database: Database) -> None:
    database.script("tests.engine.crowd", "seed", "4000")
    # One big batch, so the kill lands between the claim and the end of processing.
    first = worker(database, ENGINE_BATCH_SIZE="4000", ENGINE_LEASE_SECONDS="3")
    try:
        wait_until(database, lambda: count(database, "claimed") > 0, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)
    stranded = count(database, "claimed")
    assert stranded > 0, "the worker finished its batch before it was killed"
    assert state(database)["messages"] == 0  # its transaction died with it
    second = worker(database, ENGINE_BATCH_SIZE="500", ENGINE_LEASE_SECONDS="3")
    try:
        wait_until(database, lambda: all_done(database))
    finally:
        stop(second)
    final = state(database)
    assert final["steps"] == {"done": 4000}
    assert final["messages"] == 4000
    assert final["most_messages_per_enrollment"] == 1
