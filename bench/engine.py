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
        [--runs 3] [--sample 2000] [--smoke]

``--smoke``: every step at a tiny size (300 customers, one run, up to 500 due steps, lateness for
2 s), for CI: the figures mean nothing, a failure anywhere exits non-zero.

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
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

try:
    from common import ROOT, databases, drop_postgres, empty, new_database, row_counts, run
except ImportError:  # imported as bench.engine
    from bench.common import ROOT, databases, drop_postgres, empty, new_database, row_counts, run


@dataclass(frozen=True)
class Sizes:
    events: int = 200  # ingested one by one, for event_to_due_ms
    due: int = 100_000  # due steps per claim-and-process run
    bloat: int = 1_000_000  # finished and pending rows added for the bloated runs
    per_second: int = 100  # steps falling due per second while lateness is measured
    seconds: int = 30  # how long
    settle: float = 2  # seconds the worker gets to start


SMOKE = Sizes(events=20, due=500, bloat=2_000, per_second=20, seconds=2, settle=1)


def prepare(database: str, customers: int, var: str) -> tuple[dict[str, str], str]:
    env, name = new_database(database, var)
    py = sys.executable
    try:
        run(env, py, "-m", "huifang.cli", "demo", "--customers", str(customers), "--seed", "1")
        run(env, py, str(Path(__file__).resolve()), "--top-up", str(customers * 10))
    except BaseException:
        drop_postgres(name)
        raise
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
    table = Event._meta.db_table
    with connection.cursor() as cursor:
        while (missing := events - Event.objects.count()) > 0:
            cursor.execute(
                f"INSERT INTO {table} (customer_id, type, occurred_at, received_at, "  # noqa: S608
                f"properties, source, amount, score) SELECT customer_id, type, {earlier}, "
                f"received_at, properties, source, amount, score FROM {table} "
                "WHERE type = 'page_view' ORDER BY id LIMIT %s",
                [missing],
            )
            if not cursor.rowcount:
                break
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--sample", type=int, default=2000, help="customers for the Python loop")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--top-up", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.customers, args.runs, args.sample = 300, 1, 10
    if args.top_up:
        top_up(args.top_up)
        return
    if args.measure:
        sizes = SMOKE if args.smoke else Sizes()
        print(json.dumps(measure(args.runs, args.sample, sizes)))
        return
    results = {}
    for database in databases(args.only):
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
                    *(["--smoke"] if args.smoke else []),
                )
            finally:
                drop_postgres(name)
        results[database] = {"load_s": round(loaded, 1), **json.loads(out.strip().splitlines()[-1])}
        print(json.dumps({database: results[database]}), file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "engine",
                "customers": args.customers,
                "runs": args.runs,
                "smoke": args.smoke,
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


def measure(runs: int, sample: int, sizes: Sizes) -> dict[str, Any]:
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
        lambda: event_to_due(sizes.events),
        lambda: claim_and_process(runs, sizes),
        lambda: lateness(sizes),
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
    before = row_counts()
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
        forget_evaluation(before)  # each run starts from the same state
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


def forget_evaluation(before: dict[Any, int]) -> None:
    """Put every table back as it was before the evaluation (``before``: the rows of each
    model then): the tables it filled were empty, so they are emptied again. The tables are
    found, not listed, so a model added later is reset too; an evaluation that adds rows to a
    table that had some stops the benchmark, which could not undo it."""
    grown = {m: n for m, n in row_counts().items() if n != before.get(m, 0)}
    kept = sorted(m._meta.db_table for m in grown if before.get(m, 0))
    if kept:
        raise SystemExit(f"the evaluation changed tables that held rows before it: {kept}")
    # Not their dependents: the demo's tasks point at no enrollment and stay.
    empty(grown, dependents=False)
    again = {m._meta.db_table: n for m, n in row_counts().items() if n != before.get(m, 0)}
    assert not again, f"not reset: {again}"


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


def event_to_due(events: int) -> dict[str, Any]:
    from django.db import transaction

    from huifang.customers.models import Customer
    from huifang.customers.services import ingest_events
    from huifang.engine.models import DueStep

    ids = list(
        Customer.objects.filter(tier__in=["vip", "regular"], external_id__isnull=False)
        .order_by("?")
        .values_list("external_id", flat=True)[:events]
    )
    assert ids, "no VIP or regular customer with an external id"
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
    from huifang.customers.models import Consent, Customer
    from huifang.engine.lifecycle import activate
    from huifang.engine.models import DueStep, Enrollment
    from huifang.messaging.models import Message
    from huifang.rules.document import parse_rule
    from huifang.rules.services import save_rule

    enrollments, due_steps = Enrollment._meta.db_table, DueStep._meta.db_table
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
            f"INSERT INTO {enrollments} (rule_id, version_id, customer_id, anchor, anchor_at, "  # noqa: S608
            "status, step, waiting, started_at, end_reason) "
            "SELECT %s, %s, c.id, 'bench', %s, 'active', 'only', '', %s, '' "
            f"FROM {Customer._meta.db_table} c JOIN {Consent._meta.db_table} k "
            "ON k.customer_id = c.id AND k.channel = 'sms' AND k.status = 'granted' "
            "WHERE NOT c.do_not_contact AND c.phone <> '' ORDER BY c.id LIMIT %s",
            [saved.rule.pk, saved.version.pk, stamp, stamp, count],
        )
        cursor.execute(
            f"INSERT INTO {due_steps} (enrollment_id, kind, step, due_at, status, claimed_by, "  # noqa: S608
            f"claims) SELECT id, 'run', 'only', %s, 'due', '', 0 FROM {enrollments} "
            "WHERE rule_id = %s",
            [due, saved.rule.pk],
        )
        seeded = int(cursor.rowcount)
        if connection.vendor == "postgresql":
            # As autovacuum would have by the time a real table holds this much.
            cursor.execute(f"ANALYZE {due_steps}, {enrollments}, {Message._meta.db_table}")
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

    from huifang.engine.models import DueStep, Enrollment

    table = DueStep._meta.db_table
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
                f"INSERT INTO {table} (enrollment_id, kind, step, due_at, status, "  # noqa: S608
                f"claimed_by, claims) SELECT %s, 'run', 'x', %s, %s, '', 1 FROM ({series}) t",
                [enrollment, later, status, rows],
            )
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")
        else:
            cursor.execute("ANALYZE")


def claim_and_process(runs: int, sizes: Sizes) -> dict[str, Any]:
    from django.conf import settings

    count = sizes.due
    clean = [rate(f"clean-{n}", count) for n in range(runs)]
    bloat(sizes.bloat)
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


def lateness(sizes: Sizes) -> dict[str, Any]:
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
    per_second = sizes.per_second
    try:
        time.sleep(sizes.settle)
        deadline = time.monotonic() + sizes.seconds
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
        if worker.poll() is not None:
            raise SystemExit(f"the engine worker exited with {worker.returncode}")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Left running it would keep this benchmark's output open and its caller waiting.
            worker.kill()
            worker.wait()
            stuck = "the engine worker did not stop within 30 s of SIGTERM: killed"
            raise SystemExit(stuck) from None
    late = [
        (done - due).total_seconds()
        for due, done in DueStep.objects.filter(pk__in=created, done_at__isnull=False).values_list(
            "due_at", "done_at"
        )
    ]
    connection.close()
    if not late:
        raise SystemExit(f"the engine worker processed none of {len(created)} due steps")
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
