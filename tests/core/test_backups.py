"""``huifang backup`` and ``huifang restore``, run as the real commands against a real database:
a SQLite file, or a PostgreSQL database when the suite runs on PostgreSQL (tests/processes.py).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from huifang.server import backups
from tests.processes import PG, ROOT, Database, _environment, _postgres, _postgres_url


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Database]:
    """A new database with nothing in it, not even the schema."""
    env = _environment(tmp_path / "empty-var")
    if PG:
        name = f"huifang_restore_{os.getpid()}"
        _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        _postgres(f"CREATE DATABASE {name}")
        url = _postgres_url(name)
    else:
        url = f"sqlite:///{tmp_path / 'restored.db'}"
    env["DATABASE_URL"] = url
    try:
        yield Database(url, env)
    finally:
        if PG:
            _postgres(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def tables(db: Database) -> list[str]:
    if PG:
        sql = (
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' ORDER BY 1"
        )
    else:
        sql = (
            "SELECT name FROM sqlite_master "
            "WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1"
        )
    return [row[0] for row in db.query(sql)]


def rows(db: Database, table: str) -> list[tuple[Any, ...]]:
    """Every row, in an order that does not depend on how they were stored."""
    return sorted(db.query(f'SELECT * FROM "{table}"'), key=repr)  # noqa: S608 - our table names


def huifang(db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``huifang args`` against ``db``, whatever its exit code."""
    return subprocess.run(
        [sys.executable, "-m", "huifang.cli", *args],
        env=db.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_same(original: Database, restored: Database) -> None:
    names = tables(original)
    assert names == tables(restored)
    filled = 0
    for table in names:
        expected = rows(original, table)
        assert len(expected) == len(rows(restored, table)), table
        assert expected[:3] == rows(restored, table)[:3], table
        assert expected[-3:] == rows(restored, table)[-3:], table
        assert expected == rows(restored, table), table
        filled += bool(expected)
    assert filled > 20  # the demo filled customers, events, rules, plans, messages, tasks …


def test_a_backup_restores_into_an_empty_database_with_every_row(
    database: Database, empty: Database, tmp_path: Path
) -> None:
    database.manage("demo", "--customers", "40", "--seed", "7")
    path = tmp_path / "backups" / "huifang.backup"
    printed = database.manage("backup", str(path))
    assert f"Backed up to {path}" in printed
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # customers' personal data inside

    assert tables(empty) == []
    printed = empty.manage("restore", str(path))
    assert f"Restored {path}" in printed
    assert_same(database, empty)
    # The restored installation works: migrations have nothing to do.
    assert "No migrations to apply" in empty.manage("migrate", "--no-input")

    # Now it has data of its own: a second restore is refused and changes nothing …
    empty.manage("demo", "--customers", "5", "--seed", "9")
    customers = len(rows(empty, "customers_customer"))
    assert customers == len(rows(database, "customers_customer")) + 5
    refused = huifang(empty, "restore", str(path))
    assert refused.returncode != 0
    assert "already has" in refused.stderr and "--force" in refused.stderr
    assert len(rows(empty, "customers_customer")) == customers
    # … unless forced: then it holds exactly the backup again.
    empty.manage("restore", "--force", str(path))
    assert_same(database, empty)


def test_it_refuses_to_overwrite_a_backup(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "taken"
    path.write_text("something else")
    refused = huifang(database, "backup", str(path))
    assert refused.returncode != 0 and "already exists" in refused.stderr
    assert path.read_text() == "something else"


def test_it_refuses_a_file_that_is_not_a_backup(empty: Database, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database")
    refused = huifang(empty, "restore", str(path))
    assert refused.returncode != 0 and "is not a Huifang backup" in refused.stderr


def test_it_writes_a_default_name_under_var(database: Database) -> None:
    printed = database.manage("backup")
    written = Path(printed.split("Backed up to ")[1].split(" (")[0])
    assert written.parent == Path(database.env["HUIFANG_VAR_DIR"]) / "backups"
    assert written.name.startswith("huifang-")
    assert written.suffix == (".dump" if PG else ".sqlite3")


@pytest.mark.skipif(PG, reason="SQLite's online backup")
def test_a_sqlite_backup_is_consistent_while_another_process_writes(
    database: Database, tmp_path: Path
) -> None:
    """An open write transaction (a worker in the middle of a batch) neither blocks the backup
    nor leaks into it: the copy holds what was committed."""
    database.manage("demo", "--customers", "10", "--seed", "1")
    source = Path(database.url.removeprefix("sqlite:///"))
    path = tmp_path / "during-a-write.sqlite3"
    with closing(sqlite3.connect(source, timeout=30, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("DELETE FROM customers_customer")
        database.manage("backup", str(path))
        writer.execute("ROLLBACK")
    with closing(sqlite3.connect(path)) as copy:
        (count,) = copy.execute("SELECT count(*) FROM customers_customer").fetchone()
        (mode,) = copy.execute("PRAGMA journal_mode").fetchone()
    assert count == 10
    assert mode == "delete"  # one self-contained file


def test_a_missing_postgresql_program_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    database = {"ENGINE": "django.db.backends.postgresql", "NAME": "huifang"}
    with pytest.raises(backups.BackupError, match="pg_dump is not on PATH"):
        backups.backup(database=database, path=tmp_path / "x.dump")
    assert not (tmp_path / "x.dump").exists()


def test_a_backup_of_one_engine_is_not_restored_into_the_other(tmp_path: Path) -> None:
    path = tmp_path / "x.dump"
    path.write_bytes(b"PGDMP\x01\x0e\x00")
    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "new.db")}
    with pytest.raises(backups.BackupError, match="is a postgresql backup but the database"):
        backups.restore(database=sqlite, path=path)
