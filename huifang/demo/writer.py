"""Fast bulk writes for large loads: COPY on PostgreSQL, ``executemany`` on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.management.color import no_style
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

ROWS_PER_STATEMENT = 200  # SQLite: one INSERT of 200 rows is a third cheaper than 200 INSERTs


@dataclass
class Flat:
    """Rows for SQLite, flattened into one list of values (made in the child process)."""

    width: int
    values: list[Any]

    @classmethod
    def of(cls, rows: Sequence[Sequence[Any]]) -> Flat:
        width = len(rows[0]) if rows else 0
        return cls(width, [value for row in rows for value in row])

    def __bool__(self) -> bool:
        return bool(self.values)


class BulkWriter:
    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.postgres = connection.vendor == "postgresql"

    def _quote(self, name: str) -> str:
        return str(self.connection.ops.quote_name(name))

    def lock(self, table: str) -> None:
        """Ids are assigned by the loader, so nobody else may insert meanwhile."""
        if self.postgres:
            with self.connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {self._quote(table)} IN SHARE ROW EXCLUSIVE MODE")

    def insert(self, table: str, columns: Sequence[str], rows: Any) -> None:
        """Write ``rows``: COPY text on PostgreSQL, a sequence of tuples on SQLite."""
        if not rows:
            return
        names = ", ".join(self._quote(c) for c in columns)
        with self.connection.cursor() as cursor:
            raw = cursor.cursor  # the driver's cursor under Django's wrapper
            if self.postgres:
                with raw.copy(f"COPY {self._quote(table)} ({names}) FROM STDIN") as copy:
                    copy.write(rows)
            else:
                # The driver's own cursor: Django's wrapper would rewrite each long statement.
                driver = self.connection.connection.cursor()
                self._insert_sqlite(driver, table, names, len(columns), rows)

    def _insert_sqlite(self, raw: Any, table: str, names: str, width: int, rows: Any) -> None:
        flat = rows if isinstance(rows, Flat) else Flat.of(rows)
        one = "(" + ", ".join("?" for _ in range(width)) + ")"
        head = f"INSERT INTO {self._quote(table)} ({names}) VALUES "  # noqa: S608 - our names
        step = ROWS_PER_STATEMENT * width
        full = head + ", ".join([one] * ROWS_PER_STATEMENT)
        values = flat.values
        whole = len(values) - len(values) % step
        for start in range(0, whole, step):
            raw.execute(full, values[start : start + step])
        rest = values[whole:]
        if rest:
            raw.execute(head + ", ".join([one] * (len(rest) // width)), rest)

    @contextmanager
    def deferred_indexes(self, *models: type[Model], enabled: bool) -> Iterator[None]:
        """Drop the tables' secondary indexes and build them once after a large load.

        Building an index over a million sorted rows is several times cheaper than updating it
        a million times. Inside a transaction, so the indexes are back before anyone looks.
        Unique indexes stay: they guard the data while it is written. Each index is rebuilt
        from the database's own definition of it, operator classes and conditions included.
        """
        if not enabled:
            yield
            return
        tables = [model._meta.db_table for model in models]
        with self.connection.cursor() as cursor:
            definitions = self._secondary_indexes(cursor, tables)
            for name, _sql in definitions:
                cursor.execute(f"DROP INDEX {self._quote(name)}")
        yield
        with self.connection.cursor() as cursor:
            for _name, sql in definitions:
                cursor.execute(sql)

    def _secondary_indexes(self, cursor: Any, tables: list[str]) -> list[tuple[str, str]]:
        """(name, CREATE INDEX statement) of every non-unique index on these tables."""
        if self.postgres:
            cursor.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                "JOIN pg_class c ON c.relname = i.indexname "
                "JOIN pg_index x ON x.indexrelid = c.oid "
                "WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s) "
                "AND NOT x.indisunique AND NOT x.indisprimary",
                [tables],
            )
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN (SELECT value FROM json_each(%s)) "
                "AND sql NOT LIKE 'CREATE UNIQUE%%'",
                [json.dumps(tables)],
            )
        return [(str(name), str(sql)) for name, sql in cursor.fetchall()]

    @contextmanager
    def loading(self, *models: type[Model]) -> Iterator[None]:
        """One transaction for a bulk load, with foreign keys checked once at the end.

        Checking a million rows' foreign keys one by one costs more than writing them. SQLite:
        checks are switched off for the load (possible only outside a transaction) and
        ``check_constraints`` then scans the loaded tables. PostgreSQL: the tables' foreign-key
        constraints are dropped and added back, which validates every row in one query.
        Either way a dangling row raises ``IntegrityError`` and the whole load rolls back.
        """
        tables = [model._meta.db_table for model in models]
        if not self.postgres:
            with self.connection.constraint_checks_disabled(), transaction.atomic():
                yield
                self.connection.check_constraints(table_names=tables)
            return
        with transaction.atomic():
            with self.connection.cursor() as cursor:
                # An enclosing transaction may have deferred checks queued; PostgreSQL alters no
                # table with pending trigger events, so run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                cursor.execute(
                    "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
                    "FROM pg_constraint c WHERE c.contype = 'f' "
                    "AND c.conrelid = ANY(%s::regclass[])",
                    [tables],
                )
                foreign_keys = cursor.fetchall()
                for table, name, _definition in foreign_keys:
                    cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {self._quote(name)}")
            yield
            with self.connection.cursor() as cursor:
                for table, name, definition in foreign_keys:
                    cursor.execute(
                        f"ALTER TABLE {table} ADD CONSTRAINT {self._quote(name)} {definition}"
                    )
                cursor.execute("ANALYZE " + ", ".join(self._quote(t) for t in tables))

    def reset_sequences(self, models: Sequence[type[Model]]) -> None:
        if not self.postgres:
            return  # SQLite continues from the largest rowid by itself
        statements = self.connection.ops.sequence_reset_sql(no_style(), list(models))
        with self.connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
