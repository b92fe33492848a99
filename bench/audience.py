#!/usr/bin/env python3
"""Benchmark the live audience of the strategy studio on PostgreSQL and SQLite; prints JSON.

While a rule's conditions are edited, the page shows how many customers match now and the
newest ten of them (``huifang.studio.audience.live_audience``). Target: p95 ≤ 500 ms at
1,000,000 customers on either database, for the 3-condition rule below.

Each database is built once and kept (``--rebuild`` builds it again): PostgreSQL database
``--db-name`` (default ``huifang_bench_audience``) on the server of ``DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/), SQLite file ``--sqlite`` (default
``var/bench/audience.sqlite3``). The customers and their tags are the demo's (``huifang demo``:
the same chunk maker, seed and ``BulkWriter``), written without their events, consents and
tasks, which no audience condition reads: regions weighted as online shoppers live, tiers from
the 12-month spend, 60 % of customers with one to three of twelve tags. The data is built
relative to the day it was loaded, so "within the last N days" selects fewer customers on a
database loaded long ago; rebuild it now and then. PostgreSQL gets the ``VACUUM ANALYZE`` that
autovacuum would have run by then, SQLite the sampled ``ANALYZE`` of the customer tables that the
scheduler runs every hour (``customers.tasks.planner_statistics``; ``--no-statistics`` leaves
it out, to see what the hour before it costs).

Then, in a process of its own per database, for each shape of rule: one warm-up call, then
``--runs`` runs of ``--calls`` calls of ``live_audience`` (count + sample of ten); per run the
p50 and p95, reported as the median over the runs. SQLite opens a new connection for every
call, as every request does (``CONN_MAX_AGE = 0``), so its page cache starts cold each time;
PostgreSQL keeps its connection (``conn_max_age=60``). Every shape's count and sample are
checked against an independent query (``SELECT DISTINCT``): the figures must be right, not
only fast.

    .venv/bin/python bench/audience.py [--customers 1000000] [--runs 5] [--calls 10]
        [--only sqlite|postgres] [--shape NAME …] [--rebuild] [--explain] [--no-statistics]
        [--db-name huifang_bench_audience] [--sqlite var/bench/audience.sqlite3] [--smoke]

``--smoke`` (for CI): 1,000 customers, one run of two calls per shape, on throw-away databases
(a temporary SQLite file; a PostgreSQL database of its own, dropped afterwards) instead of the
kept ones; exits non-zero when a shape's figures are wrong. Its times mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    from common import databases, drop_postgres, new_database
except ImportError:  # imported as bench.audience
    from bench.common import databases, drop_postgres, new_database

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnop"
TARGET_P95_MS = 500
SEED = 1
# Bumped whenever the generated data changes shape: a database built by another version of
# this script is built again.
DATA_VERSION = 1
META = "bench_audience_meta"

# The rule shapes measured; "three_conditions" is the one the target is about.
SHAPES: dict[str, dict[str, Any]] = {
    "three_conditions": {
        "trigger": {"kind": "event", "event": "purchase"},
        "audience": {
            "all": [
                {"field": "tier", "op": "in", "value": ["vip", "regular"]},
                {"field": "last_purchase_at", "op": "within_last_days", "value": 90},
                {"field": "city", "op": "eq", "value": "上海市"},
            ]
        },
    },
    "three_conditions_tag": {
        "trigger": {"kind": "segment", "where": {"field": "tags", "op": "in", "value": ["会员"]}},
        "audience": {
            "all": [
                {"field": "tier", "op": "in", "value": ["vip", "regular"]},
                {"field": "spend_12m", "op": "gt", "value": 1000},
            ]
        },
    },
    "one_condition": {
        "trigger": {"kind": "event", "event": "purchase"},
        "audience": {"all": [{"field": "tier", "op": "eq", "value": "vip"}]},
    },
    "tag_any": {
        "trigger": {"kind": "event", "event": "purchase"},
        "audience": {"field": "tags", "op": "in", "value": ["会员", "高价值", "复购"]},
    },
    "tag_every": {
        "trigger": {"kind": "event", "event": "purchase"},
        "audience": {"field": "tags", "op": "contains", "value": ["会员", "高价值"]},
    },
    "or_group": {
        "trigger": {"kind": "event", "event": "purchase"},
        "audience": {
            "any": [
                {"field": "spend_12m", "op": "gt", "value": 8000},
                {"field": "last_satisfaction", "op": "lte", "value": 2},
                {"field": "tags", "op": "contains", "value": "投诉过"},
            ]
        },
    },
    "within_last_days": {
        "trigger": {"kind": "event", "event": "purchase"},
        "audience": {"field": "last_purchase_at", "op": "within_last_days", "value": 30},
    },
    "no_condition": {"trigger": {"kind": "event", "event": "purchase"}},
    "rare": {
        "trigger": {"kind": "event", "event": "purchase"},
        "audience": {
            "all": [
                {"field": "city", "op": "eq", "value": "哈尔滨市"},
                {"field": "tier", "op": "eq", "value": "vip"},
                {"field": "last_satisfaction", "op": "eq", "value": 1},
                {"field": "gender", "op": "eq", "value": "m"},
            ]
        },
    },
}
MAIN_SHAPE = "three_conditions"


def log(message: str) -> None:
    print(f"[audience] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- the parent: one measuring process per database ---------------------------------------------


def postgres_urls(db_name: str) -> tuple[str, str]:
    """(URL of the bench database, libpq URL of the server's maintenance database)."""
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        parts = urlsplit("postgres://postgres@127.0.0.1:5432/postgres")
    bench = urlunsplit((parts.scheme, parts.netloc, f"/{db_name}", parts.query, ""))
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    return bench, admin


def prepare_postgres(db_name: str, rebuild: bool) -> str:
    import psycopg

    if not db_name.startswith("huifang_bench"):
        raise SystemExit(f"refusing to use {db_name!r}: --db-name must start with huifang_bench")
    url, admin = postgres_urls(db_name)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name]).fetchone()
        if rebuild and exists:
            conn.execute(f'DROP DATABASE "{db_name}" WITH (FORCE)')
        if rebuild or not exists:
            conn.execute(f'CREATE DATABASE "{db_name}"')
    return url


def prepare_sqlite(path: Path, rebuild: bool) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if rebuild:
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def measure_in_child(database: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        DATABASE_URL=url,
        SECRET_KEY=os.environ.get("SECRET_KEY") or SECRET,
        DJANGO_SETTINGS_MODULE="huifang.settings",
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    if len(env["SECRET_KEY"]) < 32:
        env["SECRET_KEY"] = SECRET
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure",
        "--customers",
        str(args.customers),
        "--runs",
        str(args.runs),
        "--calls",
        str(args.calls),
        *(["--explain"] if args.explain else []),
        *(["--no-statistics"] if args.no_statistics else []),
        *(["--shape", *args.shape] if args.shape else []),
        *(["--smoke"] if args.smoke else []),
    ]
    log(f"{database}: {url}")
    done = subprocess.run(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"measuring {database} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs (the median is reported)")
    parser.add_argument("--calls", type=int, default=10, help="calls per shape in each run")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--shape", nargs="+", choices=sorted(SHAPES), help="only these shapes")
    parser.add_argument("--db-name", default="huifang_bench_audience")
    parser.add_argument("--sqlite", type=Path, default=ROOT / "var" / "bench" / "audience.sqlite3")
    parser.add_argument("--rebuild", action="store_true", help="build the databases again")
    parser.add_argument(
        "--explain", action="store_true", help="the query plans of each shape (on stderr)"
    )
    parser.add_argument(
        "--no-statistics",
        action="store_true",
        help="SQLite: measure without the planner statistics the hourly job gathers",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny throw-away databases, for CI")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.customers, args.runs, args.calls = 1000, 1, 2
    if args.customers < 1000:
        raise SystemExit("use at least 1,000 customers")
    if args.measure:
        print(json.dumps(measure(args), ensure_ascii=False))
        return

    results: dict[str, Any] = {}
    for database in databases(args.only, order=("postgres", "sqlite")):
        if args.smoke:
            results[database] = smoke(database, args)
            continue
        if database == "postgres":
            url = prepare_postgres(args.db_name, args.rebuild)
        else:
            url = prepare_sqlite(args.sqlite.resolve(), args.rebuild)
        results[database] = measure_in_child(database, url, args)
    ok = bool(results) and all(
        r["shapes"][MAIN_SHAPE]["p95_ms"] <= TARGET_P95_MS and r["all_correct"]
        for r in results.values()
        if MAIN_SHAPE in r["shapes"]
    )
    print(
        json.dumps(
            {
                "benchmark": "audience",
                "customers": args.customers,
                "runs": args.runs,
                "calls_per_run": args.calls,
                "smoke": args.smoke,
                "cpu_count": os.cpu_count(),
                "target_p95_ms": TARGET_P95_MS,
                "target_shape": MAIN_SHAPE,
                "results": results,
                "ok": ok,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    wrong = [name for name, r in results.items() if not r["all_correct"]]
    if args.smoke and wrong:
        raise SystemExit(f"wrong audience figures on {', '.join(wrong)}")


def smoke(database: str, args: argparse.Namespace) -> dict[str, Any]:
    """Measured on a throw-away database, gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="huifang-bench-") as var:
        env, name = new_database(database, var)
        try:
            url = env.get("DATABASE_URL") or f"sqlite:///{Path(var) / 'huifang.db'}"
            return measure_in_child(database, url, args)
        finally:
            drop_postgres(name)


# -- the child: build if needed, then measure ---------------------------------------------------


def setup_django() -> None:
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()


def loaded_meta() -> dict[str, Any] | None:
    from django.db import connection

    if META not in connection.introspection.table_names():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT data FROM {META}")  # noqa: S608 - our table
        row = cursor.fetchone()
    return dict(json.loads(row[0])) if row else None


def write_meta(meta: dict[str, Any]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {META} (data TEXT NOT NULL)")
        cursor.execute(f"DELETE FROM {META}")  # noqa: S608
        cursor.execute(f"INSERT INTO {META} (data) VALUES (%s)", [json.dumps(meta)])  # noqa: S608


def build(customers: int) -> dict[str, float]:
    """The demo's customers and tags, ``customers`` of them, into an empty database."""
    import random

    from django.db import connection
    from django.utils import timezone

    from huifang.customers.models import Customer
    from huifang.demo import generator
    from huifang.demo.people import ChunkSpec
    from huifang.demo.writer import BulkWriter

    if Customer.objects.exists():
        raise SystemExit("the bench database holds customers but no record of a load: --rebuild")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    now = timezone.now()
    writer = BulkWriter(connection)
    tags = Customer.tags.through
    with writer.loading(Customer, tags):
        by_team = generator._ensure_staff(random.Random(SEED))
        tag_ids = generator._ensure_tags()
        pools = generator._pools(SEED)
        specs = [
            ChunkSpec(
                seed=SEED,
                number=start,
                count=min(generator.CHUNK, customers - start),
                first_id=1 + start,
                industries=generator.INDUSTRIES,
                now=int(now.timestamp()),
                owners=by_team,
                tag_ids=tag_ids,
                postgres=writer.postgres,
                pools=pools,
            )
            for start in range(0, customers, generator.CHUNK)
        ]
        with writer.deferred_indexes(Customer, tags, enabled=True):
            for chunk in generator._chunks(specs, parallel=True):
                writer.insert(Customer._meta.db_table, chunk.customer_columns, chunk.customers)
                writer.insert(tags._meta.db_table, ["customer_id", "tag_id"], chunk.tags)
                if chunk.last_number % 100_000 == 0:
                    log(f"  {chunk.last_number:,} customers")
            timings["rows_s"] = round(time.perf_counter() - started, 1)
        writer.reset_sequences([Customer, tags])
    timings["rows_and_indexes_s"] = round(time.perf_counter() - started, 1)
    if connection.vendor == "postgresql":
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # what autovacuum will have done by then
        timings["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
    return timings


def measure(args: argparse.Namespace) -> dict[str, Any]:
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from huifang.customers.models import Customer

    started = time.perf_counter()
    if not args.smoke:  # a smoke run's throw-away database was made migrated
        call_command("migrate", verbosity=0, interactive=False)
    migrate_s = round(time.perf_counter() - started, 1)
    meta = loaded_meta()
    wanted = {"version": DATA_VERSION, "customers": args.customers, "seed": SEED}
    loaded_now = meta is None or any(meta.get(k) != v for k, v in wanted.items())
    if loaded_now:
        if meta is not None:
            raise SystemExit(f"the bench database holds another load ({meta}): use --rebuild")
        log(f"building {connection.vendor}: {args.customers:,} customers")
        started = time.perf_counter()
        timings = build(args.customers)
        meta = {
            **wanted,
            "load_s": round(time.perf_counter() - started, 1),
            "load_steps_s": timings,
            "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_meta(meta)
        log(f"loaded in {meta['load_s']} s")
    assert meta is not None
    statistics_s = None
    if not args.no_statistics:
        from huifang.customers.tasks import planner_statistics

        started = time.perf_counter()
        planner_statistics()
        statistics_s = round(time.perf_counter() - started, 2)
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")
    load_before = os.getloadavg()[0]
    shapes = {name: SHAPES[name] for name in (args.shape or SHAPES)}
    measured = {
        name: measure_shape(name, document, args.runs, args.calls, args.explain)
        for name, document in shapes.items()
    }
    return {
        "database": connection.vendor,
        "name": str(connection.settings_dict["NAME"]),
        "customers": Customer.objects.count(),
        "tagged": Customer.tags.through.objects.count(),
        "loaded_now": loaded_now,
        "loaded_at": meta.get("loaded_at"),
        "load_s": meta.get("load_s"),
        "load_steps_s": meta.get("load_steps_s"),
        "migrate_s": migrate_s,
        "planner_statistics_s": statistics_s,
        "indexes": customer_indexes(),
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "shapes": measured,
        "all_correct": all(m["correct"] for m in measured.values()),
    }


def customer_indexes() -> dict[str, list[str]]:
    """The indexes the conditions can use: the customers' and their tags'."""
    from django.db import connection

    from huifang.customers.models import Customer

    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for model in (Customer, Customer.tags.through):
            table = model._meta.db_table
            constraints = connection.introspection.get_constraints(cursor, table)
            found[table] = sorted(
                name for name, c in constraints.items() if c["index"] and not c["primary_key"]
            )
    return found


def fresh_connection() -> None:
    """SQLite: a request opens its own connection (CONN_MAX_AGE = 0), with a cold page cache."""
    from django.db import connection

    if connection.vendor == "sqlite":
        connection.close()


def measure_shape(
    name: str, document: dict[str, Any], runs: int, calls: int, explain: bool
) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from huifang.studio.audience import live_audience

    fresh_connection()
    with CaptureQueriesContext(connection) as captured:
        audience = live_audience(document)  # warm-up, and the queries it runs
    queries = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("PRAGMA")]
    correct, expected = check(document, audience)
    p50s, p95s = [], []
    for _run in range(runs):
        samples = []
        for _call in range(calls):
            fresh_connection()
            started = time.perf_counter()
            live_audience(document)
            samples.append((time.perf_counter() - started) * 1000)
        p50s.append(percentile(samples, 0.5))
        p95s.append(percentile(samples, 0.95))
    result = {
        "p50_ms": round(statistics.median(p50s), 1),
        "p95_ms": round(statistics.median(p95s), 1),
        "runs_p95_ms": [round(x, 1) for x in p95s],
        "count": audience.count,
        "sample": len(audience.sample),
        "queries": len(queries),
        "correct": correct,
    }
    if not correct:
        result["expected"] = expected
    log(f"{name}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, count {audience.count:,}")
    if explain:
        explain_queries(name, queries)
    return result


def check(document: dict[str, Any], audience: Any) -> tuple[bool, dict[str, Any]]:
    """The count and sample against ``SELECT DISTINCT`` over the same condition."""
    from huifang.customers.models import Customer
    from huifang.studio.audience import SAMPLE_SIZE, customer_condition

    if audience.errors:
        return False, {"errors": audience.errors}
    ids = Customer.objects.filter(customer_condition(document)).values_list("pk", flat=True)
    count = ids.distinct().count()
    newest = list(ids.distinct().order_by("-pk")[:SAMPLE_SIZE])
    sample = [c.pk for c in audience.sample]
    # The boundary of "within the last N days" moves between the two queries: allow the few
    # customers who crossed it meanwhile.
    close = abs(count - audience.count) <= max(2, count // 100_000)
    return close and (sample == newest or count != audience.count), {
        "count": count,
        "sample": newest,
        "got_sample": sample,
    }


def explain_queries(name: str, queries: list[str]) -> None:
    from django.db import connection

    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS)" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    )
    for sql in queries:
        with connection.cursor() as cursor:
            cursor.execute(f"{prefix} {sql}")
            rows = cursor.fetchall()
        plan = "\n".join(
            str(row[0]) if connection.vendor == "postgresql" else str(row[-1]) for row in rows
        )
        log(f"{name}:\n{sql}\n{plan}\n")


if __name__ == "__main__":
    main()
