"""Real dispatcher processes against one database and one local receiver: no message is sent
twice across workers, and a worker killed after the provider took a message leaves it
``uncertain`` — never sent again."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from huifang.messaging.models import Message
from tests.integrations.fakes import JsonHandler, serve
from tests.processes import Database, stop


class Receiver(JsonHandler):
    ids: Counter[int] = Counter()
    lock = threading.Lock()
    open = threading.Event()  # cleared: requests hang (the provider took it, no answer yet)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with Receiver.lock:
            Receiver.ids[body["id"]] += 1
        Receiver.open.wait(60)
        self.answer(200, {"id": f"r-{body['id']}"})


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.ids = Counter()
    Receiver.open.set()
    with serve(Receiver) as url:
        yield url
    Receiver.open.set()


def outbox(db: Database, *args: str) -> str:
    return db.script("tests.messaging.outbox_seed", *args)


def state(db: Database) -> dict[str, Any]:
    return json.loads(outbox(db, "check"))


def statuses(db: Database) -> dict[str, int]:
    """The messages by status, read straight from the database (cheap enough to poll)."""
    sql = f"SELECT status, count(*) FROM {Message._meta.db_table} GROUP BY status"  # noqa: S608
    return dict(db.query(sql))


def dispatcher(db: Database, **settings: str) -> subprocess.Popen[bytes]:
    return db.process(
        "dispatch",
        OUTBOUND_HTTP_ALLOW="127.0.0.1",
        QUIET_HOURS="00:00-00:00",  # whenever the suite runs
        **settings,
    )


def wait_until(db: Database, predicate: Callable[[], bool], timeout: float = 120) -> None:
    db.wait_until(predicate, lambda: f"{state(db)}; received {len(Receiver.ids)}", timeout)


def test_two_dispatchers_never_send_a_message_twice(
    database: Database,
    receiver: str,
) -> None:
    outbox(database, "seed", "1500", receiver)
    small = {"DISPATCH_BATCH_SIZE": "40", "ENGINE_POLL_MS": "10", "DISPATCH_THREADS": "4"}
    workers = [dispatcher(database, **small), dispatcher(database, **small)]
    try:
        wait_until(database, lambda: statuses(database) == {"sent": 1500})
    finally:
        stop(*workers)
    assert len(Receiver.ids) == 1500
    assert set(Receiver.ids.values()) == {1}
    assert state(database)["attempts"] == {"sent": 1500}


def test_a_dispatcher_killed_after_the_provider_took_a_message_never_resends_it(
    database: Database,
    receiver: str,
) -> None:
    outbox(database, "seed", "5", receiver)
    one_by_one = {"DISPATCH_BATCH_SIZE": "1", "DISPATCH_THREADS": "1"}
    Receiver.open.clear()  # the receiver takes the first message and keeps the line open
    first = dispatcher(database, DISPATCH_LEASE_SECONDS="5", **one_by_one)
    try:
        wait_until(database, lambda: len(Receiver.ids) == 1, timeout=60)
        first.kill()  # SIGKILL: gone between the hand-off and the record
        first.wait(timeout=10)
    finally:
        stop(first)
    [taken] = Receiver.ids
    Receiver.open.set()
    assert state(database)["statuses"] == {"sending": 1, "queued": 4}
    second = dispatcher(database, DISPATCH_LEASE_SECONDS="5", ENGINE_POLL_MS="50", **one_by_one)
    try:
        wait_until(database, lambda: statuses(database) == {"sent": 4, "uncertain": 1})
        time.sleep(1)  # a while longer: nothing more goes out
    finally:
        stop(second)
    assert Receiver.ids[taken] == 1
    assert sum(Receiver.ids.values()) == 5
    assert state(database)["attempts"] == {"sent": 4, "uncertain": 1}
