"""Set-based reads and writes for the claim loop's hot path, below the ORM.

A batch touches hundreds of rows per statement. Building a model instance per row and letting
the ORM compile an ``IN`` list of hundreds of parameters costs more than the database's own work,
so the claim loop reads plain rows and writes with one statement per table:

- ``id_in`` filters by a list of ids with one array parameter on PostgreSQL (``= ANY``) and
  natively bound parameters on SQLite;
- ``insert`` writes model instances with one statement per batch — on PostgreSQL the batch is
  one JSON document spread by ``json_populate_recordset`` (a third of the time of adapting a
  parameter per value), on SQLite multi-row ``VALUES`` — and sets the new primary keys on the
  instances (returned in insertion order, as Django's own ``bulk_create`` relies on);
- ``update`` writes a different value per row the same way (``UPDATE … FROM``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any

from django.db import connection, models
from django.db.models.fields.json import JSONField


def postgres() -> bool:
    return connection.vendor == "postgresql"


def id_in(column: str, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """A ``WHERE`` fragment and its parameters: ``column`` is one of ``ids``."""
    if postgres():
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


@contextmanager
def set_based() -> Iterator[None]:
    """Around a statement whose both sides are large (inside a transaction): no nested loops.

    Evaluation may insert hundreds of thousands of rows and then, in the same transaction, ask
    the same table ``NOT EXISTS``. Statistics taken while the table was empty make PostgreSQL
    expect a handful of rows and pick a nested loop over a sequential scan: minutes instead of
    a second. Only for statements that always touch most of both tables, where a hash join is
    right whatever the statistics say.
    """
    if not postgres():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_nestloop = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_nestloop = on")


def _sqlite_value(value: Any) -> Any:
    return to_db_time(value) if isinstance(value, datetime) else value


def to_db_time(moment: datetime | None) -> Any:
    return None if moment is None else connection.ops.adapt_datetimefield_value(moment)


def from_db_time(value: Any) -> datetime | None:
    """A datetime column read with a raw cursor, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite stores ISO text
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: Sequence[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | time) else value


def insert(objs: Sequence[models.Model]) -> None:
    """INSERT ``objs`` (instances of one model) in one statement and set their primary keys.

    Every concrete field but the auto primary key is written as the instance holds it; defaults
    were applied when the instance was made.
    """
    if not objs:
        return
    meta = type(objs[0])._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    table, pk = meta.db_table, str(meta.pk.column)  # type: ignore[union-attr]
    quoted = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    if postgres():
        # The whole batch as one JSON document, spread into the table's row type by the
        # server: no per-value parameter for the client to adapt.
        document = json.dumps(
            [{str(f.column): _json_value(getattr(obj, f.attname)) for f in fields} for obj in objs],
            default=str,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({quoted}) SELECT {quoted} "  # noqa: S608
                f"FROM json_populate_recordset(NULL::{table}, %s) RETURNING {pk}",
                [document],
            )
            keys = [row[0] for row in cursor.fetchall()]
    else:
        convert = [
            (json.dumps if isinstance(f, JSONField) else _sqlite_value, f.attname) for f in fields
        ]
        rows = [[to(getattr(obj, attname)) for to, attname in convert] for obj in objs]
        marks = f"({', '.join(['%s'] * len(fields))})"
        keys = []
        with connection.cursor() as cursor:
            # SQLite's limit on parameters per statement (32766 since 3.32).
            size = max(1, 32766 // len(fields))
            for start in range(0, len(rows), size):
                chunk = rows[start : start + size]
                cursor.execute(
                    f"INSERT INTO {table} ({quoted}) VALUES "  # noqa: S608
                    f"{', '.join([marks] * len(chunk))} RETURNING {pk}",
                    [value for row in chunk for value in row],
                )
                keys += [row[0] for row in cursor.fetchall()]
    for obj, key in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = connection.alias


def _encoded(record: Sequence[Any], encode: Sequence[Any]) -> list[Any]:
    return [record[0], *(to(v) for to, v in zip(encode, record[1:], strict=True))]


def update(
    table: str,
    columns: Sequence[str],
    records: Sequence[Sequence[Any]],
    *,
    where: str = "",
    params: Sequence[Any] = (),
    json_columns: Collection[str] = (),
) -> int:
    """``UPDATE table`` with one row of values per record, in one statement.

    Each record is ``(id, value, …)`` in the order of ``columns``; ``where`` (over the table,
    aliased ``t``) further limits the rows written, e.g. only rows still claimed by us.
    Returns the number of rows written. ``json_columns`` hold Python values stored as JSON.
    """
    if not records:
        return 0
    quote = connection.ops.quote_name
    extra = f" AND ({where})" if where else ""
    if postgres():
        sets = ", ".join(f"{quote(c)} = v.{quote(c)}" for c in columns)
        document = json.dumps(
            [
                {"id": record[0], **dict(zip(columns, map(_json_value, record[1:]), strict=True))}
                for record in records
            ],
            default=str,
        )
        return execute(
            f"UPDATE {table} AS t SET {sets} "  # noqa: S608
            f"FROM json_populate_recordset(NULL::{table}, %s) AS v WHERE t.id = v.id{extra}",
            [document, *params],
        )
    encode = [json.dumps if c in json_columns else _sqlite_value for c in columns]
    sets = ", ".join(f"{quote(c)} = v.column{n + 2}" for n, c in enumerate(columns))
    marks = f"({', '.join(['%s'] * (len(columns) + 1))})"
    size = max(1, 32766 // (len(columns) + 1))
    written = 0
    for start in range(0, len(records), size):
        chunk = records[start : start + size]
        written += execute(
            f"UPDATE {table} AS t SET {sets} FROM (VALUES "  # noqa: S608
            f"{', '.join([marks] * len(chunk))}) AS v WHERE t.id = v.column1{extra}",
            [*(value for record in chunk for value in _encoded(record, encode)), *params],
        )
    return written


def write(objs: Sequence[models.Model], fields: Sequence[str]) -> int:
    """Write ``fields`` of saved ``objs`` (instances of one model) in one statement
    (``update``): what ``bulk_update`` does, without building an expression per row and field
    (hundreds of times a minute in the engine and in simulations). Like ``bulk_update``, it
    writes the values as the instances hold them, and sets nothing else."""
    if not objs:
        return 0
    meta = type(objs[0])._meta
    written = [meta.get_field(name) for name in fields]
    concrete = [field for field in written if isinstance(field, models.Field)]
    assert len(concrete) == len(written), "only a model's own fields are written"
    return update(
        meta.db_table,
        [str(field.column) for field in concrete],
        [(obj.pk, *(getattr(obj, field.attname) for field in concrete)) for obj in objs],
        json_columns={str(field.column) for field in concrete if isinstance(field, JSONField)},
    )
