"""Real worker processes sharing one database (SQLite file, or PostgreSQL when the suite runs
on it): no due step is processed twice, and a worker killed mid-batch loses nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("DATABASE_URL", "").startswith("postgres")


class Database:
    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url, self.env = url, env

    def manage(self, *args: str, timeout: int = 300) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "huifang.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def crowd(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "tests.engine.crowd", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def state(self) -> dict[str, Any]:
        return json.loads(self.crowd("check"))

    def count(self, status: str) -> int:
        sql = "SELECT count(*) FROM engine_duestep WHERE status = %s"
        if PG:
            import psycopg

            with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as conn:
                row = conn.execute(sql, [status]).fetchone()
        else:
            with sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30) as conn:
                row = conn.execute(sql.replace("%s", "?"), [status]).fetchone()
        assert row is not None
        return int(row[0])

    def worker(self, **settings: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "huifang.cli", "engine"],
            env={**self.env, **settings},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_until(self, predicate: Any, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out; state: {self.state()}")


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HUIFANG_", "DJANGO_", "PYTEST"))
    }
    env.update(
        HUIFANG_VAR_DIR=str(tmp_path / "var"),
        SECRET_KEY="workers-test-secret-key-0123456789abcdef",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    if PG:
        import psycopg

        base = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")
        name = f"huifang_workers_{os.getpid()}"
        admin = base.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        url = base.rsplit("/", 1)[0] + "/" + name
    else:
        url = f"sqlite:///{tmp_path / 'engine.db'}"
    env["DATABASE_URL"] = url
    db = Database(url, env)
    db.manage("migrate", "--no-input")
    try:
        yield db
    finally:
        if PG:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def stop(*workers: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_two_workers_never_process_a_step_twice(database: Database) -> None:
    database.crowd("seed", "3000")
    small = {"ENGINE_BATCH_SIZE": "50", "ENGINE_POLL_MS": "10"}
    workers = [database.worker(**small), database.worker(**small)]
    try:
        database.wait_until(lambda: database.count("due") == 0 and database.count("claimed") == 0)
    finally:
        stop(*workers)
    state = database.state()
    assert state["steps"] == {"done": 3000}
    assert state["claims"] == 3000  # each row was claimed once, by one of the two
    assert state["messages"] == 3000
    assert state["most_messages_per_enrollment"] == 1


def test_a_worker_killed_mid_batch_loses_nothing(database: Database) -> None:
    database.crowd("seed", "4000")
    # One big batch, so the kill lands between the claim and the end of processing.
    first = database.worker(ENGINE_BATCH_SIZE="4000", ENGINE_LEASE_SECONDS="3")
    try:
        database.wait_until(lambda: database.count("claimed") > 0, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)
    stranded = database.count("claimed")
    assert stranded > 0, "the worker finished its batch before it was killed"
    assert database.state()["messages"] == 0  # its transaction died with it
    second = database.worker(ENGINE_BATCH_SIZE="500", ENGINE_LEASE_SECONDS="3")
    try:
        database.wait_until(lambda: database.count("claimed") == 0 and database.count("due") == 0)
    finally:
        stop(second)
    state = database.state()
    assert state["steps"] == {"done": 4000}
    assert state["messages"] == 4000
    assert state["most_messages_per_enrollment"] == 1
