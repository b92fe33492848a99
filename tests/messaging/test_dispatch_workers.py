"""Real dispatcher processes against one database and one local receiver: no message is sent
twice across workers, and a worker killed after the provider took a message leaves it
``uncertain`` — never sent again."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engine.test_workers import ROOT, Database, database, stop  # noqa: F401
from tests.integrations.fakes import JsonHandler, serve


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
    done = subprocess.run(
        [sys.executable, "-m", "tests.messaging.outbox_seed", *args],
        env=db.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def state(db: Database) -> dict[str, Any]:
    return json.loads(outbox(db, "check"))


def dispatcher(db: Database, **settings: str) -> subprocess.Popen[bytes]:
    env = {
        **db.env,
        "OUTBOUND_HTTP_ALLOW": "127.0.0.1",
        "QUIET_HOURS": "00:00-00:00",  # whenever the suite runs
        **settings,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "huifang.cli", "dispatch"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until(db: Database, predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out; state: {state(db)}; received {len(Receiver.ids)}")


def test_two_dispatchers_never_send_a_message_twice(
    database: Database,  # noqa: F811
    receiver: str,
) -> None:
    outbox(database, "seed", "1500", receiver)
    small = {"DISPATCH_BATCH_SIZE": "40", "ENGINE_POLL_MS": "10", "DISPATCH_THREADS": "4"}
    workers = [dispatcher(database, **small), dispatcher(database, **small)]
    try:
        wait_until(database, lambda: state(database)["statuses"] == {"sent": 1500})
    finally:
        stop(*workers)
    assert len(Receiver.ids) == 1500
    assert set(Receiver.ids.values()) == {1}
    assert state(database)["attempts"] == {"sent": 1500}


def test_a_dispatcher_killed_after_the_provider_took_a_message_never_resends_it(
    database: Database,  # noqa: F811
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
        wait_until(database, lambda: state(database)["statuses"] == {"sent": 4, "uncertain": 1})
        time.sleep(1)  # a while longer: nothing more goes out
    finally:
        stop(second)
    assert Receiver.ids[taken] == 1
    assert sum(Receiver.ids.values()) == 5
    assert state(database)["attempts"] == {"sent": 4, "uncertain": 1}
