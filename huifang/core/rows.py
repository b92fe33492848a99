"""Set-based reads and writes for the claim loop's hot path, below the ORM.

A batch touches hundreds of rows per statement. Building a model instance per row and letting
the ORM compile an ``IN`` list of hundreds of parameters costs more than the database's own work,
so the claim loop reads plain rows and writes with one statement per table:

- ``id_in`` filters by a list of ids with one array parameter on PostgreSQL (``= ANY``) and
  natively bound parameters on SQLite;
- ``insert`` writes model instances with one statement per batch — on PostgreSQL the batch is
  one JSON document spread by ``json_populate_recordset`` (a third of the time of adapting a
  parameter per value), on SQLite multi-row ``VALUES`` — and sets the new primary keys on the
  instances (returned in insertion order, as Django's own ``bulk_create`` relies on); from
  ``COPY_FROM`` rows on PostgreSQL, the keys are taken from the sequence and the rows sent by
  ``COPY``;
- ``update`` writes a different value per row the same way (``UPDATE … FROM``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from typing import Any

from django.db import connection, models
from django.db.models import NOT_PROVIDED, Expression, Value
from django.db.models.base import ModelState
from django.db.models.expressions import DatabaseDefault
from django.db.models.fields.json import JSONField

# From this many rows, ``insert`` on PostgreSQL sends them by ``COPY``.
COPY_FROM = 200


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


def _sqlite_converter(field: models.Field[Any, Any]) -> Any:
    """How a value of ``field`` is bound on SQLite: JSON as text, moments as the backend
    stores them (the same moment, as often in a batch, converted once), the rest as it is."""
    if isinstance(field, JSONField):
        return json.dumps
    if not isinstance(field, models.DateTimeField):
        return _sqlite_value  # a datetime may still sit in a field of another kind
    last: list[Any] = [None, None]

    def convert(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, to_db_time(value)
        return last[1]

    return convert


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
    were applied when the instance was made. A column the database computes
    (``GeneratedField``) is left to it, and a field left to its ``db_default`` gets that value.
    """
    if not objs:
        return
    model = type(objs[0])
    fields = _insertable(model)
    defaults = {
        f.attname: _db_default(model, f) for f in fields if f.db_default is not NOT_PROVIDED
    }
    records = []
    for obj in objs:
        record = [getattr(obj, f.attname) for f in fields]
        for i, f in enumerate(fields):
            if isinstance(record[i], DatabaseDefault):
                record[i] = defaults[f.attname]
        records.append(record)
    keys = _insert(model, fields, records)
    for obj, key in zip(objs, keys, strict=True):
        obj.pk = key
        obj._state.adding = False
        obj._state.db = connection.alias


def insert_values(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """INSERT rows given as ``{attname: value}``, without making an instance of each (for a
    model of many columns, making them costs more than writing them): a field a row leaves out
    gets its default, worked out once. Returns the new primary keys, in order."""
    if not rows:
        return []
    fields = _insertable(model)
    defaults = {
        f.attname: (_db_default(model, f) if f.db_default is not NOT_PROVIDED else f.get_default())
        for f in fields
    }
    names = [f.attname for f in fields]
    unknown = {key for row in rows for key in row} - set(names)
    if unknown:
        raise ValueError(f"{model._meta.label} has no field {sorted(unknown)}")
    return _insert(model, fields, [[row.get(n, defaults[n]) for n in names] for row in rows])


def loaded(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> list[Any]:
    """Saved instances of ``model`` from rows of ``values_list("pk", *fields)``, made without
    ``Model.__init__``, which walks every column of the model for each row (an import loads
    a hundred thousand customers of forty columns to read a dozen). The fields not loaded
    are deferred, as ``only()`` leaves them: read from the database when touched."""
    meta, pk = model._meta, model._meta.pk
    assert pk is not None
    columns = [meta.get_field(f) for f in fields]
    assert all(isinstance(field, models.Field) for field in columns), "only a model's own fields"
    names = [str(pk.attname), *(str(field.attname) for field in columns)]  # type: ignore[union-attr]
    alias = connection.alias
    made = []
    for row in rows:
        instance = model.__new__(model)
        instance.__dict__.update(zip(names, row, strict=True))
        state = instance._state = ModelState()
        state.adding, state.db = False, alias
        made.append(instance)
    return made


def _insertable(model: type[models.Model]) -> list[Any]:
    return [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and not getattr(f, "generated", False)
    ]


def _db_default(model: type[models.Model], field: Any) -> Any:
    default = field.db_default.value if isinstance(field.db_default, Value) else field.db_default
    if isinstance(default, Expression):
        raise ValueError(f"{model._meta.label}.{field.name}: cannot write a computed default")
    return default


def _insert(model: type[models.Model], fields: list[Any], records: list[list[Any]]) -> list[Any]:
    meta = model._meta
    table, pk = meta.db_table, str(meta.pk.column)  # type: ignore[union-attr]
    quoted = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    if postgres() and len(records) >= COPY_FROM:
        return _copy(table, pk, quoted, fields, records)
    if postgres():
        # The whole batch as one JSON document, spread into the table's row type by the
        # server: no per-value parameter for the client to adapt.
        columns = [str(f.column) for f in fields]
        document = json.dumps(
            [
                {c: _json_value(v) for c, v in zip(columns, record, strict=True)}
                for record in records
            ],
            default=str,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({quoted}) SELECT {quoted} "  # noqa: S608
                f"FROM json_populate_recordset(NULL::{table}, %s) RETURNING {pk}",
                [document],
            )
            return [row[0] for row in cursor.fetchall()]
    convert = [_sqlite_converter(f) for f in fields]
    rows = [[to(v) for to, v in zip(convert, record, strict=True)] for record in records]
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
    return keys


def _copy(
    table: str, pk: str, quoted: str, fields: list[Any], records: list[list[Any]]
) -> list[Any]:
    """A large batch on PostgreSQL: its keys taken from the table's sequence in one query,
    then the rows sent by ``COPY``, which psycopg encodes in C — a fraction of the cost of
    the JSON document for thousands of rows of forty columns (an import)."""
    encoders = [
        (i, json.dumps if f.encoder is None else f.encoder().encode)
        for i, f in enumerate(fields, start=1)
        if isinstance(f, JSONField)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, pk, len(records)],
        )
        keys = sorted(row[0] for row in cursor.fetchall())
        with cursor.copy(
            f"COPY {table} ({connection.ops.quote_name(pk)}, {quoted}) FROM STDIN"
        ) as copy:
            for key, record in zip(keys, records, strict=True):
                row = [key, *record]
                for i, encode in encoders:
                    if row[i] is not None:
                        row[i] = encode(row[i])
                copy.write_row(row)
    return keys


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
