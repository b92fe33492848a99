#!/usr/bin/env python3
"""Benchmark the follow-up engine (issue 3) on SQLite and PostgreSQL; prints JSON.

For each database: a brand-new database loaded with ``huifang demo --customers N`` (about nine
events per customer, topped up to ten with older page views: 1,000,000 customers come with
10,000,000 events), the twelve ready strategies plus eight variants activated (20 rules), then,
in one process against it:

- ``full_evaluation_s``: every rule over all customers (``evaluate_all``), committed, first
  pass and an idempotent second pass; and the same work done the way simple CRMs do it — a
  Python loop over customers, a query per customer per rule — timed on a sample and scaled to
  all customers,
  giving ``speedup_over_python_loop``.
- ``event_to_due_ms``: one purchase ingested (as the API does) until its due step is committed,
  p50 / p99 over 200 events.
- ``claim_process_per_s``: 100,000 due steps claimed and processed through the ``log``
  transport by one worker; again with 1,000,000 finished and 1,000,000 pending rows added to the
  table (``bloated``), and the drop between the two.
- ``lateness_s``: a real ``huifang engine`` worker while due steps fall due at a steady 100 per
  second for 30 s: p50 / p99 / max of (processed - due), by the database clock.

    .venv/bin/python bench/engine.py [--customers 1000000] [--only sqlite|postgres]
        [--runs 3] [--sample 2000] [--keep DIR]

Targets: full evaluation ≤ 10 s on PostgreSQL, ≤ 15 s on SQLite; event to due step p99 ≤ 20 ms;
≥ 5,000 steps/s, dropping ≤ 20 % when bloated; lateness p99 ≤ 2 s.
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
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

try:
    from common import postgres_answers
except ImportError:  # imported as bench.engine
    from bench.common import postgres_answers

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnop"


def run(env: dict[str, str], *args: str, timeout: int = 7200) -> str:
    done = subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def prepare(database: str, customers: int, var: str) -> tuple[dict[str, str], str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(HUIFANG_VAR_DIR=var, LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    name = ""
    if database == "postgres":
        import psycopg

        name = f"huifang_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
        env["SECRET_KEY"] = SECRET
    py = sys.executable
    run(env, py, "-m", "huifang.cli", "migrate", "-v0")
    run(env, py, "-m", "huifang.cli", "demo", "--customers", str(customers), "--seed", "1")
    run(env, py, str(Path(__file__).resolve()), "--top-up", str(customers * 10))
    return env, name


def top_up(events: int) -> None:
    """The demo makes about nine events per customer; the issue asks for ten. The missing ones
    are copies of page views, a year and a half earlier: rows every evaluation reads past,
    that no rule acts on."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    import django

    django.setup()
    from django.db import connection

    from huifang.customers.models import Event

    earlier = (
        "occurred_at - interval '540 days'"
        if connection.vendor == "postgresql"
        else "datetime(occurred_at, '-540 days')"
    )
    with connection.cursor() as cursor:
        while (missing := events - Event.objects.count()) > 0:
            cursor.execute(
                "INSERT INTO customers_event (customer_id, type, occurred_at, received_at, "  # noqa: S608
                f"properties, source, amount, score) SELECT customer_id, type, {earlier}, "
                "received_at, properties, source, amount, score FROM customers_event "
                "WHERE type = 'page_view' ORDER BY id LIMIT %s",
                [missing],
            )
            if not cursor.rowcount:
                break
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE customers_event")


def drop(name: str) -> None:
    if name:
        import psycopg

        with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--sample", type=int, default=2000, help="customers for the Python loop")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--top-up", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.top_up:
        top_up(args.top_up)
        return
    if args.measure:
        print(json.dumps(measure(args.runs, args.sample)))
        return
    databases = [args.only] if args.only else ["sqlite", "postgres"]
    if "postgres" in databases and not postgres_answers():
        databases.remove("postgres")
    results = {}
    for database in databases:
        with tempfile.TemporaryDirectory(prefix="huifang-bench-") as var:
            started = time.perf_counter()
            env, name = prepare(database, args.customers, var)
            loaded = time.perf_counter() - started
            try:
                out = run(
                    env,
                    sys.executable,
                    str(Path(__file__).resolve()),
                    "--measure",
                    "--runs",
                    str(args.runs),
                    "--sample",
                    str(args.sample),
                )
            finally:
                drop(name)
        results[database] = {"load_s": round(loaded, 1), **json.loads(out.strip().splitlines()[-1])}
        print(json.dumps({database: results[database]}), file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "engine",
                "customers": args.customers,
                "runs": args.runs,
                "cpu_count": os.cpu_count(),
                "results": results,
            },
            indent=2,
        )
    )


# -- inside the measuring process ------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(runs: int, sample: int) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    import django

    django.setup()
    from django.db import connection

    from huifang.customers.models import Customer, Event

    rules = activate_twenty()
    result: dict[str, Any] = {
        "vendor": connection.vendor,
        "customers": Customer.objects.count(),
        "events": Event.objects.count(),
        "rules": len(rules),
    }
    for step in (
        lambda: full_evaluation(runs, sample),
        event_to_due,
        lambda: claim_and_process(runs),
        lateness,
    ):
        result.update(step())
        print(json.dumps(result), file=sys.stderr, flush=True)
    return result


VARIANTS = [
    (
        "retail-after-purchase",
        "bench-big-spenders",
        {"all": [{"field": "properties.amount", "op": "gte", "value": 2000}]},
    ),
    ("retail-review-invite", "bench-review-vip", None),
    ("ticket-closed-survey", "bench-ticket-48h", None),
    ("complaint-urgent-call", "bench-complaint-owner", None),
    (
        "dormant-reactivation",
        "bench-dormant-180",
        {"all": [{"field": "last_purchase_at", "op": "before_days", "value": 180}]},
    ),
    (
        "dormant-reactivation",
        "bench-low-satisfaction",
        {"all": [{"field": "last_satisfaction", "op": "lt", "value": 3}]},
    ),
    ("vip-monthly", "bench-regular-quarterly", {"field": "tier", "op": "eq", "value": "regular"}),
    ("saas-renewal", "bench-renewal-30", None),
]


def activate_twenty() -> list[str]:
    from huifang.engine.lifecycle import activate
    from huifang.rules.document import parse_rule
    from huifang.rules.models import Rule
    from huifang.rules.services import exported, save_rule

    for rule in Rule.objects.all():
        if rule.current_version is None:
            version = rule.latest_version()
            assert version is not None
            activate(rule, version)
    for source, key, where in VARIANTS:
        content = exported(Rule.objects.get(key=source))
        content.update(key=key, name=key)
        if where is not None:
            content["trigger"]["where"] = where
        if key == "bench-regular-quarterly":
            content["trigger"]["every"] = {"quarters": 1}
        if key == "bench-renewal-30":
            content["trigger"]["offset"] = {"days": 30}
        if key == "bench-ticket-48h":
            content["trigger"]["delay"] = {"hours": 48}
        saved = save_rule(parse_rule(content))
        activate(saved.rule, saved.version)
    return list(Rule.objects.filter(status="active").values_list("key", flat=True))


def full_evaluation(runs: int, sample: int) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection

    from huifang.core.clock import DatabaseClock
    from huifang.engine.triggers import evaluate_all

    firsts, seconds, enrolled = [], [], 0
    for _run in range(runs):
        # Committed, as a real evaluation is (each rule in a transaction of its own; side by
        # side on PostgreSQL): the databases do part of their work at commit.
        now = DatabaseClock().now()
        started = time.perf_counter()
        counts = evaluate_all(now)
        firsts.append(time.perf_counter() - started)
        started = time.perf_counter()
        again = evaluate_all(now)
        seconds.append(time.perf_counter() - started)
        enrolled = sum(counts.values())
        assert sum(again.values()) == 0, again
        forget_evaluation()  # each run starts from the same state
    loop_s = python_loop(sample)
    first = statistics.median(firsts)
    return {
        "full_evaluation_s": round(first, 2),
        "full_evaluation_runs_s": [round(x, 2) for x in firsts],
        "full_evaluation_again_s": round(statistics.median(seconds), 2),
        "full_evaluation_enrolled": enrolled,
        # Side by side on PostgreSQL only (SQLite has one writer at a time).
        "evaluation_threads": (
            settings.HUIFANG_EVALUATION_THREADS if connection.vendor == "postgresql" else 1
        ),
        "python_loop_extrapolated_s": round(loop_s, 1),
        "speedup_over_python_loop": round(loop_s / first, 1),
    }


def forget_evaluation() -> None:
    """Empty the engine's tables (only the evaluation has written to them at this point)."""
    from django.db import connection

    tables = ["engine_duestep", "engine_enrollment", "engine_segmentmember", "engine_triggercursor"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Tasks reference enrollments (none exist yet: nothing has been processed).
            cursor.execute(f"TRUNCATE {', '.join(tables)}, tasks_task")
        else:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608


def python_loop(sample: int) -> float:
    """What a simple CRM does: for each customer, for each rule, ask the database."""
    from huifang.core.clock import DatabaseClock
    from huifang.customers.models import Customer, Event
    from huifang.engine.models import Enrollment
    from huifang.engine.triggers import active_rules
    from huifang.rules.conditions import compile_condition
    from huifang.rules.plans import fixed

    now = DatabaseClock().now()
    rules = active_rules()
    total = Customer.objects.count()
    ids = list(Customer.objects.order_by("?").values_list("id", flat=True)[:sample])
    started = time.perf_counter()
    for cid in ids:
        customer = Customer.objects.get(pk=cid)
        for rule, current in rules:
            trigger = current.document.trigger
            audience = compile_condition(current.document.audience, now=now)
            if not Customer.objects.filter(pk=customer.pk).filter(audience).exists():
                continue
            if trigger.kind == "event":
                delay = getattr(trigger, "delay", None)
                horizon = now - current.grace - (fixed(delay) * 2 if delay else timedelta(0))
                where = compile_condition(trigger.where, now=now, events=True, prefix="customer__")
                hits = Event.objects.filter(
                    customer=customer, type=trigger.event, occurred_at__gte=horizon
                ).filter(where)
                if not hits.exists():
                    continue
            elif trigger.kind in ("segment", "recurring"):
                where = compile_condition(getattr(trigger, "where", None), now=now)
                if not Customer.objects.filter(pk=customer.pk).filter(where).exists():
                    continue
            Enrollment.objects.filter(rule=rule, customer=customer, status="active").exists()
    per_customer = (time.perf_counter() - started) / max(1, len(ids))
    return per_customer * total


def event_to_due() -> dict[str, Any]:
    from django.db import transaction

    from huifang.customers.models import Customer
    from huifang.customers.services import ingest_events
    from huifang.engine.models import DueStep

    ids = list(
        Customer.objects.filter(tier__in=["vip", "regular"], external_id__isnull=False)
        .order_by("?")
        .values_list("external_id", flat=True)[:200]
    )
    timings = []
    for external_id in ids:
        row = {
            "type": "purchase",
            "customer_external_id": external_id,
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "properties": {"amount": 888},
        }
        before = DueStep.objects.count()
        started = time.perf_counter()
        with transaction.atomic():  # committed, as the API's request is
            ingest_events([row])
        timings.append((time.perf_counter() - started) * 1000)
        assert DueStep.objects.count() > before
    return {
        "event_to_due_ms": {
            "p50": round(percentile(timings, 0.5), 2),
            "p99": round(percentile(timings, 0.99), 2),
            "samples": len(timings),
        }
    }


def seed_due(count: int, tag: str) -> int:
    """``count`` enrollments in a one-step rule, each with a step due now; set-based."""
    from django.db import connection

    from huifang.core.clock import DatabaseClock
    from huifang.engine.lifecycle import activate
    from huifang.rules.document import parse_rule
    from huifang.rules.services import save_rule

    saved = save_rule(
        parse_rule(
            {
                "key": f"bench-throughput-{tag}",
                "name": "throughput",
                "trigger": {"kind": "event", "event": "page_view"},
                "policy": {
                    "quiet_hours": {"start": "00:00", "end": "00:00"},
                    "caps": [{"channel": "any", "max": 100, "per_days": 1}],
                },
                "steps": [{"id": "only", "send": {"channel": "sms", "template": "t"}}],
            }
        )
    )
    activate(saved.rule, saved.version)
    ops = connection.ops
    now = DatabaseClock().now()
    stamp = ops.adapt_datetimefield_value(now)
    due = ops.adapt_datetimefield_value(now - timedelta(seconds=1))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO engine_enrollment (rule_id, version_id, customer_id, anchor, anchor_at, "
            "status, step, waiting, started_at, end_reason) "
            "SELECT %s, %s, c.id, 'bench', %s, 'active', 'only', '', %s, '' "
            "FROM customers_customer c JOIN customers_consent k ON k.customer_id = c.id "
            "AND k.channel = 'sms' AND k.status = 'granted' "
            "WHERE NOT c.do_not_contact AND c.phone <> '' ORDER BY c.id LIMIT %s",
            [saved.rule.pk, saved.version.pk, stamp, stamp, count],
        )
        cursor.execute(
            "INSERT INTO engine_duestep (enrollment_id, kind, step, due_at, status, claimed_by, "
            "claims) SELECT id, 'run', 'only', %s, 'due', '', 0 FROM engine_enrollment "
            "WHERE rule_id = %s",
            [due, saved.rule.pk],
        )
        seeded = int(cursor.rowcount)
        if connection.vendor == "postgresql":
            # As autovacuum would have by the time a real table holds this much.
            cursor.execute("ANALYZE engine_duestep, engine_enrollment, outbox_message")
        return seeded


def rate(tag: str, count: int) -> float:
    from huifang.core.clock import DatabaseClock
    from huifang.engine.runner import run_until_idle

    seeded = seed_due(count, tag)
    started = time.perf_counter()
    processed = run_until_idle(DatabaseClock())
    elapsed = time.perf_counter() - started
    assert processed >= seeded, (processed, seeded)
    return processed / elapsed


def bloat(rows: int) -> None:
    """Add ``rows`` finished and ``rows`` pending (due in a month) rows to the table."""
    from django.db import connection

    from huifang.engine.models import Enrollment

    enrollment = Enrollment.objects.values_list("id", flat=True).first()
    later = connection.ops.adapt_datetimefield_value(
        __import__("django.utils.timezone", fromlist=["now"]).now() + timedelta(days=30)
    )
    series = (
        "SELECT generate_series(1, %s) AS n"
        if connection.vendor == "postgresql"
        else "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < %s) "
        "SELECT n FROM s"
    )
    with connection.cursor() as cursor:
        for status in ("done", "due"):
            cursor.execute(
                "INSERT INTO engine_duestep (enrollment_id, kind, step, due_at, status, "  # noqa: S608
                f"claimed_by, claims) SELECT %s, 'run', 'x', %s, %s, '', 1 FROM ({series}) t",
                [enrollment, later, status, rows],
            )
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE engine_duestep")
        else:
            cursor.execute("ANALYZE")


def claim_and_process(runs: int) -> dict[str, Any]:
    from django.conf import settings

    count = 100_000
    clean = [rate(f"clean-{n}", count) for n in range(runs)]
    bloat(1_000_000)
    bloated = [rate(f"bloated-{n}", count) for n in range(runs)]
    a, b = statistics.median(clean), statistics.median(bloated)
    return {
        "claim_process_per_s": round(a),
        "claim_process_runs_per_s": [round(x) for x in clean],
        "claim_process_bloated_per_s": round(b),
        "claim_process_bloated_runs_per_s": [round(x) for x in bloated],
        "bloat_drop_pct": round(100 * (a - b) / a, 1),
        "batch_size": settings.HUIFANG_ENGINE_BATCH,
    }


def lateness(per_second: int = 100, seconds: int = 30) -> dict[str, Any]:
    from django.db import connection

    from huifang.core.clock import DatabaseClock
    from huifang.engine.models import DueStep, Enrollment

    seed_due(1, "lateness")  # a rule and one enrollment to hang the timers on
    enrollment = Enrollment.objects.filter(rule__key="bench-throughput-lateness").first()
    assert enrollment is not None
    DueStep.objects.filter(enrollment=enrollment).update(status="done")
    worker = subprocess.Popen(
        [sys.executable, "-m", "huifang.cli", "engine"],
        env=os.environ.copy(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    clock = DatabaseClock()
    created = []
    try:
        time.sleep(2)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            tick = time.monotonic()
            due = clock.now() + timedelta(seconds=1)
            rows = DueStep.objects.bulk_create(
                DueStep(enrollment=enrollment, kind="timeout", step="only", due_at=due)
                for _n in range(per_second)
            )
            created += [r.pk for r in rows]
            time.sleep(max(0.0, 1 - (time.monotonic() - tick)))
        end = time.monotonic() + 30
        while DueStep.objects.filter(pk__in=created[-per_second:], status="due").exists():
            if time.monotonic() > end:
                break
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    late = [
        (done - due).total_seconds()
        for due, done in DueStep.objects.filter(pk__in=created, done_at__isnull=False).values_list(
            "due_at", "done_at"
        )
    ]
    connection.close()
    return {
        "lateness_s": {
            "p50": round(percentile(late, 0.5), 3),
            "p99": round(percentile(late, 0.99), 3),
            "max": round(max(late), 3),
            "steps": len(late),
            "created": len(created),
        }
    }


if __name__ == "__main__":
    main()
