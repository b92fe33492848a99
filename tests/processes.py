"""Real platform processes (engine workers, dispatchers) sharing a database of their own: a
SQLite file, or a PostgreSQL database when the suite runs on PostgreSQL — never pytest-django's
test database, which the child processes could not see.

Migrating takes seconds, so it is done once per run into a template that every test copies.
Loaded as a plugin by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG = os.environ.get("DATABASE_URL", "").startswith("postgres")


class Database:
    def __init__(self, url: str, env: dict[str, str]) -> None:
        self.url, self.env = url, env

    def script(self, module: str, *args: str, timeout: int = 300) -> str:
        """Run ``python -m module args`` against this database; its standard output."""
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def manage(self, *args: str, timeout: int = 300) -> str:
        return self.script("huifang.cli", *args, timeout=timeout)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read straight from the database (``%s`` placeholders): cheap enough to poll."""
        if PG:
            import psycopg

            with psycopg.connect(self.url.replace("postgres://", "postgresql://")) as conn:
                return conn.execute(sql, params or []).fetchall()  # type: ignore[arg-type]
        with closing(sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)) as conn:
            return conn.execute(sql.replace("%s", "?"), params or []).fetchall()

    def process(self, *args: str, **settings: str) -> subprocess.Popen[bytes]:
        """Start ``huifang args`` (a worker loop) with extra environment ``settings``."""
        return subprocess.Popen(
            [sys.executable, "-m", "huifang.cli", *args],
            env={**self.env, **settings},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_until(
        self, predicate: Callable[[], bool], report: Callable[[], object], timeout: float = 120
    ) -> None:
        """Poll ``predicate`` every 50 ms; on timeout fail with what ``report`` says."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out; state: {report()}")


def stop(*workers: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def _environment(var_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HUIFANG_", "DJANGO_", "PYTEST"))
    }
    env.update(
        HUIFANG_VAR_DIR=str(var_dir),
        SECRET_KEY="workers-test-secret-key-0123456789abcdef",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def _postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect(_postgres_url("postgres"), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _postgres_url(name: str) -> str:
    base = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a migrated, empty database the tests copy (never written to itself)."""
    folder = tmp_path_factory.mktemp("migrated")
    if PG:
        name = f"huifang_workers_template_{os.getpid()}"
        _postgres(f"DROP DATABASE IF EXISTS {name}")
        _postgres(f"CREATE DATABASE {name}")
        url = _postgres_url(name)
    else:
        url = f"sqlite:///{folder / 'template.db'}"
    env = _environment(folder / "var")
    Database(url, {**env, "DATABASE_URL": url}).manage("migrate", "--no-input")
    try:
        yield url
    finally:
        if PG:
            _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def database(tmp_path: Path, migrated_database: str) -> Iterator[Database]:
    """A migrated database of the test's own, for real processes to share."""
    env = _environment(tmp_path / "var")
    if PG:
        name = f"huifang_workers_{os.getpid()}"
        template = migrated_database.rsplit("/", 1)[1]
        _postgres(f"DROP DATABASE IF EXISTS {name}")
        _postgres(f"CREATE DATABASE {name} TEMPLATE {template}")
        url = _postgres_url(name)
    else:
        path = tmp_path / "engine.db"
        with (
            closing(sqlite3.connect(migrated_database.removeprefix("sqlite:///"))) as source,
            closing(sqlite3.connect(path)) as copy,
        ):
            source.backup(copy)
        url = f"sqlite:///{path}"
    env["DATABASE_URL"] = url
    try:
        yield Database(url, env)
    finally:
        if PG:
            _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
