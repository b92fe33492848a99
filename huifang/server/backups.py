"""Backing up and restoring the database: ``huifang backup`` and ``huifang restore``.

SQLite is copied with its online backup API (``sqlite3.Connection.backup``): a consistent
snapshot taken while the web server and the workers go on writing. PostgreSQL is dumped with
``pg_dump`` in its custom format and restored with ``pg_restore``, found on ``PATH``. The backup
holds the whole database, customers' personal data included: it is written readable by its
owner only (0600).

A restore refuses a database that already has tables unless ``force`` is given, so a mistyped
``DATABASE_URL`` cannot overwrite a live installation.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


def engine_of(database: dict[str, Any]) -> str:
    engine = str(database["ENGINE"])
    if engine.endswith("sqlite3"):
        return "sqlite"
    if "postgresql" in engine:
        return "postgresql"
    raise BackupError(f"backups support SQLite and PostgreSQL, not {engine}")


def default_path(var_dir: Path, database: dict[str, Any], now: datetime | None = None) -> Path:
    """``var/backups/huifang-20261206-081500.sqlite3`` (``.dump`` for PostgreSQL), in UTC."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    suffix = ".sqlite3" if engine_of(database) == "sqlite" else ".dump"
    return var_dir / "backups" / f"huifang-{stamp}{suffix}"


def backup(*, database: dict[str, Any], path: Path) -> Path:
    """Write a backup of ``database`` (a ``DATABASES`` entry) to ``path``; refuses to
    overwrite a file that exists."""
    if path.exists():
        raise BackupError(f"{path} already exists; choose another file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created empty and private first, so the data is never readable by others, not even
    # while it is being written.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        if engine_of(database) == "sqlite":
            _sqlite_backup(Path(database["NAME"]), path)
        else:
            _pg_run("pg_dump", database, ["--format=custom", f"--file={path}"])
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def restore(*, database: dict[str, Any], path: Path, force: bool = False) -> None:
    """Replace the contents of ``database`` with the backup at ``path``."""
    engine = engine_of(database)
    _check_backup_file(path, engine)
    tables = table_count(database)
    if tables and not force:
        raise BackupError(
            f"the database already has {tables} tables; restore into an empty database, "
            "or pass --force to replace what is in it"
        )
    if engine == "sqlite":
        _sqlite_restore(path, Path(database["NAME"]))
    else:
        options = ["--clean", "--if-exists"] if tables else []
        _pg_run(
            "pg_restore",
            database,
            [*options, "--no-owner", "--no-privileges", "--exit-on-error",
             "--single-transaction", "--dbname", str(database["NAME"]), str(path)],
        )  # fmt: skip


def table_count(database: dict[str, Any]) -> int:
    """How many tables the database has (0 for a new SQLite file or PostgreSQL database)."""
    if engine_of(database) == "sqlite":
        name = Path(database["NAME"])
        if not name.exists():
            return 0
        with closing(sqlite3.connect(name)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM sqlite_master "
                "WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchone()
        return int(row[0])
    try:
        with psycopg.connect(make_conninfo(**_pg_connection(database))) as conn:
            row = conn.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchone()
    except psycopg.OperationalError as exc:
        raise BackupError(
            f"cannot connect to the database (create it first with createdb): {exc}"
        ) from None
    return int(row[0]) if row else 0


def _check_backup_file(path: Path, engine: str) -> None:
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    kind = (
        "sqlite"
        if head == SQLITE_MAGIC
        else "postgresql"
        if head.startswith(PG_DUMP_MAGIC)
        else None
    )
    if kind is None:
        raise BackupError(f"{path} is not a Huifang backup (neither SQLite nor pg_dump's format)")
    if kind != engine:
        raise BackupError(
            f"{path} is a {kind} backup but the database is {engine}; restore it into a "
            f"{kind} database"
        )


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError(f"the database file {source} does not exist")
    with (
        closing(sqlite3.connect(source, timeout=30)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
        # One self-contained file: the copy would otherwise say WAL and want a -wal beside it.
        dst.execute("PRAGMA journal_mode=DELETE")


def _sqlite_restore(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(source)) as src,
        closing(sqlite3.connect(target, timeout=30)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")


def _pg_run(program: str, database: dict[str, Any], args: list[str]) -> str:
    binary = shutil.which(program)
    if binary is None:
        raise BackupError(
            f"{program} is not on PATH: install PostgreSQL's client programs "
            "(Debian: apt-get install postgresql-client, the same major version as the server)"
        )
    env = {**os.environ, **_pg_environment(database)}
    done = subprocess.run(  # noqa: S603 - a PostgreSQL program found on PATH, no shell
        [binary, *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{program} failed: {done.stderr.strip()}")
    return done.stdout


def _pg_connection(database: dict[str, Any]) -> dict[str, str]:
    """libpq's connection parameters from a ``DATABASES`` entry."""
    options = database.get("OPTIONS") or {}
    pairs = {
        "dbname": database.get("NAME"),
        "user": database.get("USER"),
        "password": database.get("PASSWORD"),
        "host": database.get("HOST"),
        "port": database.get("PORT"),
        "sslmode": options.get("sslmode"),
    }
    return {key: str(value) for key, value in pairs.items() if value not in (None, "")}


def _pg_environment(database: dict[str, Any]) -> dict[str, str]:
    """The same as libpq's variables: the password never appears on a command line."""
    names = {"dbname": "PGDATABASE"}
    return {
        names.get(key, f"PG{key.upper()}"): value for key, value in _pg_connection(database).items()
    }
