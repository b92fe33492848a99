"""What the benchmark scripts share: the databases they run on, throw-away databases, and
emptying tables named by their Django models (never by string literals, which rot when a
model is added or renamed)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.db.models import Model

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnop"
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1/postgres"
# Set by bench/smoke.py: a migrated database to copy instead of migrating each new one.
TEMPLATE_POSTGRES = "HUIFANG_BENCH_TEMPLATE_POSTGRES"
TEMPLATE_SQLITE = "HUIFANG_BENCH_TEMPLATE_SQLITE"


def machine_reference(runs: int = 5) -> float:
    """Seconds a fixed piece of plain Python takes here (the median of ``runs``): the
    machines these benchmarks run on differ by a factor of three, so a figure is compared
    with another machine's as a multiple of this one."""
    timings = []
    for _run in range(runs):
        started = time.perf_counter()
        table: dict[str, int] = {}
        for i in range(400_000):
            key = f"客户{i % 5000}"
            table[key] = table.get(key, 0) + len(key) * i
        sorted(table.items(), key=lambda item: item[1])
        timings.append(time.perf_counter() - started)
    return round(sorted(timings)[len(timings) // 2], 3)


def postgres_answers() -> bool:
    """Whether a PostgreSQL server answers on localhost (the PostgreSQL runs are skipped if not)."""
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        return False
    return True


def databases(only: str | None, order: tuple[str, ...] = ("sqlite", "postgres")) -> list[str]:
    """The databases to run on: ``--only``'s, else both; PostgreSQL only when it answers."""
    wanted = [only] if only else list(order)
    if "postgres" in wanted and not postgres_answers():
        print("[bench] no PostgreSQL answers on 127.0.0.1:5432: skipped", file=sys.stderr)
        wanted.remove("postgres")
    return wanted


def run(env: dict[str, str], *args: str, timeout: int = 7200) -> str:
    """Run a command; its stdout, or exit with its stderr when it fails."""
    done = subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def bench_env(var: str) -> dict[str, str]:
    """The environment of a benchmark's processes: no database or Redis of the caller's."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(HUIFANG_VAR_DIR=var, LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), SECRET_KEY=SECRET)
    return env


def unique_name(prefix: str = "huifang_bench") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def create_postgres(name: str, template: str | None = None) -> None:
    import psycopg

    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        for attempt in range(20):
            try:
                conn.execute(f'CREATE DATABASE "{name}"{copy}')
                return
            except psycopg.errors.ObjectInUse:
                # Another benchmark is copying the same template at this moment.
                if attempt == 19:
                    raise
                time.sleep(0.25)


def drop_postgres(name: str) -> None:
    if not name:
        return
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url(name: str) -> str:
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def new_database(database: str, var: str) -> tuple[dict[str, str], str]:
    """A brand-new, migrated database: (environment pointing at it, PostgreSQL database name
    or "" for SQLite, whose file is ``var``/huifang.db). Drop it with ``drop_postgres``."""
    env = bench_env(var)
    name = ""
    if database == "postgres":
        name = unique_name()
        template = os.environ.get(TEMPLATE_POSTGRES)
        create_postgres(name, template)
        env["DATABASE_URL"] = postgres_url(name)
        if template:
            return env, name
    elif template := os.environ.get(TEMPLATE_SQLITE):
        shutil.copyfile(template, Path(var) / "huifang.db")
        return env, name
    try:
        run(env, sys.executable, "-m", "huifang.cli", "migrate", "-v0")
    except BaseException:
        drop_postgres(name)
        raise
    return env, name


@contextmanager
def throwaway(database: str) -> Iterator[dict[str, str]]:
    """``new_database`` in a temporary var/ directory, both gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="huifang-bench-") as var:
        env, name = new_database(database, var)
        try:
            yield env
        finally:
            drop_postgres(name)


def smoke_on_demo(
    name: str, script: str, only: str | None, customers: int, *args: str, summary: Any
) -> None:
    """A page benchmark's ``--smoke``: on a throw-away database of each kind loaded with the
    demo's ``customers``, the benchmark ``script`` run with ``args`` in a process of its own, as
    a real run would be against it; prints ``{"benchmark", "smoke", "results": {database: its
    document}}`` (``summary(document)`` to the log)."""
    import json

    results = {}
    for database in databases(only):
        with throwaway(database) as env:
            py = sys.executable
            run(env, py, "-m", "huifang.cli", "demo", "--customers", str(customers))
            out = run(env, py, script, *args)
        results[database] = json.loads(out)
        print(f"[{name}] {database}: {summary(results[database])}", file=sys.stderr)
    document = {"benchmark": name, "smoke": True, "results": results}
    print(json.dumps(document, indent=2, ensure_ascii=False))


def setup_django_for_pages() -> None:
    """Django for a benchmark that requests pages through the test client: static files
    served without collecting them, the test client's host allowed."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    os.environ.setdefault("HUIFANG_TESTING", "1")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()


def timed_page(client: Any, url: str, runs: int, check: Any = None) -> dict[str, Any]:
    """One warm-up request (``check``ed, when given), then ``runs`` timed ones of ``url``, each
    answering 200: the median and p95 in milliseconds."""
    import statistics

    first = client.get(url)
    assert first.status_code == 200, (url, first.status_code)
    if check is not None:
        check(first)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    samples.sort()
    return {
        "url": url,
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1),
    }


# -- inside a process with Django set up ---------------------------------------------------


TEXT_FIELDS = {"CharField", "TextField", "EmailField", "SlugField", "URLField"}


def insert_select(
    model: type[Model], given: dict[str, str], source: str, params: list[Any] | None = None
) -> int:
    """``INSERT INTO <model's table> (…) SELECT … <source>``; the number of rows.

    ``given`` maps columns to SQL expressions, taken literally (a ``%`` in them is the modulo
    operator). Every other NOT NULL column gets the field's Django default as a parameter
    (Django defaults are not database defaults), a blank text field ``""``, so a column added
    to the model later is still filled; a column without either stops the benchmark with its
    name. Columns the database computes (``GeneratedField``) or defaults (``db_default``) are
    left to it: PostgreSQL refuses a value for the first, Django's stand-in for the second is
    no value a driver can send. ``source``'s placeholders take ``params``; without ``params``
    a ``%`` in ``source`` is the modulo operator too."""
    from django.db import connection
    from django.db.models import NOT_PROVIDED

    columns, exprs, extra = [], [], []
    for field in model._meta.local_concrete_fields:
        column = field.column
        if getattr(field, "generated", False):
            if column in given:
                raise SystemExit(f"{model._meta.db_table}.{column} is computed by the database")
            continue
        if column in given:
            columns.append(column)
            exprs.append(f"({given[column]})".replace("%", "%%"))
        elif field.primary_key or field.null or field.db_default is not NOT_PROVIDED:
            continue  # the database fills it (null, its sequence or its own default)
        elif field.has_default() or (field.blank and field.get_internal_type() in TEXT_FIELDS):
            columns.append(column)
            exprs.append("%s")
            extra.append(field.get_db_prep_save(field.get_default(), connection))
        else:
            raise SystemExit(f"{model._meta.db_table}.{column} is NOT NULL without a default")
    unknown = set(given) - {f.column for f in model._meta.local_concrete_fields}
    if unknown:
        raise SystemExit(f"{model._meta.db_table} has no column {sorted(unknown)}")
    if params is None:
        source, params = source.replace("%", "%%"), []
    sql = (
        f"INSERT INTO {model._meta.db_table} "
        f"({', '.join(connection.ops.quote_name(c) for c in columns)}) "
        f"SELECT {', '.join(exprs)} {source}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*extra, *params])
        return int(cursor.rowcount)


def all_models() -> list[type[Model]]:
    """Every model with a table of its own, many-to-many tables included."""
    from django.apps import apps

    return [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy
    ]


def references(model: type[Model]) -> set[type[Model]]:
    """The models ``model``'s rows point at (its foreign keys and one-to-ones)."""
    return {
        f.related_model
        for f in model._meta.local_concrete_fields
        if f.is_relation and f.related_model is not None and f.related_model is not model
    }


def with_dependents(models: Iterable[type[Model]]) -> list[type[Model]]:
    """``models`` and every model whose rows point at them, directly or not."""
    found = set(models)
    while True:
        more = {m for m in all_models() if m not in found and references(m) & found}
        if not more:
            return sorted(found, key=lambda m: m._meta.db_table)
        found |= more


def delete_order(models: Iterable[type[Model]]) -> list[type[Model]]:
    """``models`` ordered so that a model comes before every model its rows point at."""
    left, ordered = set(models), []
    while left:
        ready = sorted(
            (m for m in left if not any(m in references(o) for o in left if o is not m)),
            key=lambda m: m._meta.db_table,
        )
        if not ready:  # a cycle: the rest in any order (SQLite checks at commit)
            ready = sorted(left, key=lambda m: m._meta.db_table)
        ordered += ready
        left -= set(ready)
    return ordered


def empty(models: Iterable[type[Model]], *, dependents: bool = True) -> list[str]:
    """Delete every row of ``models`` (and, with ``dependents``, of every model that points at
    them), the rows that point at others first; the tables emptied. On PostgreSQL the dead rows
    are vacuumed away afterwards when not inside a transaction, as a TRUNCATE would leave no
    trace (TRUNCATE itself refuses a table that a kept table has a foreign key to)."""
    from django.db import connection

    chosen = with_dependents(models) if dependents else list(models)
    tables = [m._meta.db_table for m in delete_order(chosen)]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")  # noqa: S608
        if connection.vendor == "postgresql" and connection.get_autocommit():
            quoted = ", ".join(connection.ops.quote_name(t) for t in tables)
            cursor.execute(f"VACUUM {quoted}")
    return tables


def row_counts() -> dict[type[Model], int]:
    return {m: m._base_manager.count() for m in all_models()}
