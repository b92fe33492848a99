#!/usr/bin/env python3
"""Benchmark the rule dashboard (策略看板) and the rule page's figures on PostgreSQL.

Against one database, built once and kept (``--db-name``, default
``huifang_bench_dashboard``; ``--rebuild`` builds it again): 1,000,000 customers, 40 rules,
10,000,000 messages, 3,000,000 enrollments, 2,000,000 tasks, a reply event for one message in
twenty and 2,000,000 other events, spread over the past 540 days (ids grow with time, as in a
real outbox), with the rules' volumes skewed (the busiest rule has a sixth of everything, the
quietest a few hundred rows a month). One message in five was held by the gate (quiet hours,
some also by a cap), 7 % dropped (no consent, do-not-contact, no address, a cap). All written
by set-based SQL, the secondary indexes built after the rows, then ``VACUUM ANALYZE``.

Then, in this process, with the indexes the migrations make and again with the dashboard's own
indexes dropped (inside a transaction that is rolled back): the server time of
``figures()`` for all 40 rules and for the busiest rule alone, for today, 7 and 30 days (the
median of ``--runs``), the dashboard page through Django's test client, and with ``--explain``
each statement's ``EXPLAIN (ANALYZE, BUFFERS)`` on stderr.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/rules_dashboard.py [--messages 10000000] [--runs 5] [--explain]

``--smoke`` (for CI): 1,000 customers, 10,000 messages, 3,000 enrollments, 2,000 tasks, 2,000
events, one run, on a throw-away database dropped afterwards; a failure exits non-zero.
PostgreSQL only, like the benchmark: with ``--only sqlite`` or no PostgreSQL answering, it
says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    TEMPLATE_POSTGRES,
    create_postgres,
    drop_postgres,
    insert_select,
    postgres_answers,
)
from workspace import (
    SecondaryIndexes,
    loaded_meta,
    recreate_database,
    server_url,
    setup_django,
    write_meta,
)

DATA_VERSION = 1
ROLLUPS_VERSION = 1  # the rollup tables the dashboard reads (analytics 0002_dashboard)
RULES = 40
SPAN_DAYS = 540
# The statements' own indexes (migrations engine 0006, outbox 0007, tasks 0004); a rule's
# active plans and open tasks are read through enrollment_one_active and
# task_assignee_open_idx, which were there before.
DASHBOARD_INDEXES = (
    "enrollment_rule_ended_idx",
    "message_rule_sent_idx",
    "message_rule_delivered_idx",
    "message_rule_held_idx",
    "task_rule_done_idx",
)
BODY = (
    "【回访中心】{客户}您好，感谢您近期的惠顾。"
    "使用中如有任何问题，直接回复本短信即可，我们会尽快联系您。退订回T"
)


def log(message: str) -> None:
    print(f"[dashboard] {message}", file=sys.stderr, flush=True)


def skewed_rule(rules: list[int], r: str) -> str:
    """A rule id from a random number: rule 1 the busiest, volumes falling off as a square."""
    array = "('{" + ",".join(str(pk) for pk in rules) + "}'::int[])"
    return f"{array}[1 + least({len(rules) - 1}, floor({len(rules)} * {r} * {r})::int)]"


def moment(i: str, count: int) -> str:
    """Row ``i`` of ``count`` at its place in the last SPAN_DAYS, ids growing with time."""
    return (
        f"(now() - interval '{SPAN_DAYS} days' * (1 - {i}::float8 / {count}) "
        f"+ interval '1 minute' * mod({i} * 7, 10))"
    )


def iso(expr: str) -> str:
    return f"(to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00')"


def make_rules() -> tuple[list[int], list[int]]:
    from huifang.rules.models import Rule, RuleVersion

    rules, versions = [], []
    for n in range(1, RULES + 1):
        rule = Rule.objects.create(key=f"bench-rule-{n:02d}", name=f"回访策略 {n:02d}")
        version = RuleVersion.objects.create(rule=rule, number=1, content={"key": rule.key})
        rule.current_version = version
        rule.status = Rule.Status.ACTIVE if n <= 30 else Rule.Status.PAUSED
        rule.save()
        rules.append(rule.pk)
        versions.append(version.pk)
    return rules, versions


def load_customers(count: int) -> None:
    from huifang.customers.models import Customer

    given = {
        "id": "i",
        "created_at": "now() - interval '600 days'",
        "updated_at": "now()",
        "external_id": "'C' || lpad(i::text, 9, '0')",
        "name": "'客户' || i",
        "phone": "'+86' || (13800000000 + i)::text",
        "email": "''",
        "wecom_external_userid": "''",
        **{column: "''" for column in ("gender", "company", "province", "city", "source")},
        **{column: "''" for column in ("business_line", "do_not_contact_reason")},
        "preferred_channel": "'sms'",
        "time_zone": "'Asia/Shanghai'",
        "attributes": "'{}'::jsonb",
    }
    inserted = insert_select(Customer, given, "FROM generate_series(1, %s) AS i", [count])
    log(f"  {inserted:,} customers")


def load_messages(count: int, customers: int, enrollments: int, rules: list[int]) -> None:
    """``r2`` the fate (< .70 delivered, < .85 sent, < .88 failed, < .95 dropped, < .97
    cancelled, else sent); ``r3`` < .20 held once by quiet hours, < .05 of those also a cap."""
    from huifang.messaging.models import Message

    t = moment("i", count)
    dropped, cancelled = "(r2 >= 0.88 AND r2 < 0.95)", "(r2 >= 0.95 AND r2 < 0.97)"
    holds = (
        f"CASE WHEN NOT {dropped} AND r3 < 0.05 THEN 2 "
        f"WHEN NOT {dropped} AND r3 < 0.2 THEN 1 ELSE 0 END"
    )
    released = (
        f"({t} + interval '10 hours' * r4 * least({holds}, 1) "
        f"+ interval '2 days' * greatest({holds} - 1, 0))"
    )
    gone = "(r2 < 0.88 OR r2 >= 0.97)"
    sent = f"CASE WHEN {gone} THEN {released} + interval '5 seconds' END"
    reason = (
        f"CASE WHEN {dropped} THEN ('{{no_consent,no_consent,no_consent,do_not_contact,"
        f"no_address,cap}}'::text[])[1 + mod(i, 6)] WHEN {cancelled} THEN 'ended' ELSE '' END"
    )
    night = iso(f"{t} + interval '10 hours' * r4")
    defer = (
        f"jsonb_build_object('at', {iso(t)}, 'action', 'defer', 'reason', 'quiet_hours', "
        f"'until', {night}, 'channel', 'sms')"
    )
    cap = (
        f"jsonb_build_object('at', {night}, 'action', 'defer', "
        f"'reason', 'cap', 'until', {iso(released)}, 'channel', 'sms')"
    )
    send = f"jsonb_build_object('at', {iso(released)}, 'action', 'send', 'channel', 'sms')"
    drop = f"jsonb_build_object('at', {iso(t)}, 'action', 'drop', 'reason', {reason})"
    decisions = (
        f"CASE WHEN {dropped} THEN jsonb_build_array({drop}) "
        f"WHEN {holds} = 2 THEN jsonb_build_array({defer}, {cap}, {send}) "
        f"WHEN {holds} = 1 THEN jsonb_build_array({defer}, {send}) "
        f"ELSE jsonb_build_array({send}) END"
    )
    status = (
        "CASE WHEN r2 < 0.70 THEN 'delivered' WHEN r2 < 0.85 THEN 'sent' WHEN r2 < 0.88 "
        "THEN 'failed' WHEN r2 < 0.95 THEN 'dropped' WHEN r2 < 0.97 THEN 'cancelled' "
        "ELSE 'sent' END"
    )
    given = {
        "customer_id": f"1 + mod(i::bigint * 7919, {customers})",
        "enrollment_id": f"1 + (i::bigint * {enrollments}) / {count}",
        "rule_id": skewed_rule(rules, "r1"),
        "step": "'first'",
        "channel": f"CASE WHEN {dropped} THEN '' ELSE 'sms' END",
        "channels": "'[\"sms\"]'::jsonb",
        "template": "'thanks'",
        "status": status,
        "reason": reason,
        "planned_at": t,
        "sent_at": sent,
        "holds": holds,
        "decisions": decisions,
        "queued_at": f"CASE WHEN NOT {dropped} THEN {released} END",
        "ready_at": f"CASE WHEN NOT {dropped} THEN {released} END",
        "attempts": f"CASE WHEN {gone} THEN 1 ELSE 0 END",
        "transport": f"CASE WHEN {gone} THEN 'log' ELSE '' END",
        "provider_ref": f"CASE WHEN {gone} THEN 'log-' || i ELSE '' END",
        "body": f"CASE WHEN {dropped} THEN '' ELSE '{BODY}' END",
        "delivered_at": f"CASE WHEN r2 < 0.70 THEN {released} + interval '45 seconds' END",
        "links": "'[]'::jsonb",
        **{column: "''" for column in ("claimed_by", "to", "subject", "error")},
        "created_at": t,
    }
    inserted = insert_select(
        Message,
        given,
        "FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4 "
        "FROM generate_series(1, %s) AS i) AS s",
        [count],
    )
    log(f"  {inserted:,} messages")


def load_enrollments(count: int, customers: int, rules: list[int], versions: list[int]) -> None:
    """Those that started in the last 10 days are active; the rest ended within a week."""
    from huifang.engine.models import Enrollment

    t = moment("i", count)
    rule = skewed_rule(rules, "r1")
    active = f"({t} > now() - interval '10 days')"
    status = (
        f"CASE WHEN {active} THEN 'active' WHEN r2 < 0.8 THEN 'completed' "
        "WHEN r2 < 0.92 THEN 'exited' ELSE 'ended' END"
    )
    reason = (
        f"CASE WHEN {active} THEN '' WHEN r2 < 0.5 THEN 'completed' WHEN r2 < 0.7 THEN 'replied' "
        "WHEN r2 < 0.8 THEN 'stopped' WHEN r2 < 0.92 THEN 'event:purchase' "
        "WHEN r2 < 0.96 THEN 'version_changed' ELSE 'archived' END"
    )
    rules_sql = "('{" + ",".join(map(str, rules)) + "}'::int[])"
    versions_sql = "('{" + ",".join(map(str, versions)) + "}'::int[])"
    given = {
        "rule_id": rule,
        "version_id": f"{versions_sql}[array_position({rules_sql}, {rule})]",
        "customer_id": f"1 + mod(i, {customers})",
        "anchor": "'event:' || i",
        "anchor_at": t,
        "status": status,
        "step": "'first'",
        "waiting": f"CASE WHEN {active} THEN 'reply' ELSE '' END",
        "started_at": t,
        "ended_at": f"CASE WHEN NOT {active} THEN {t} + interval '7 days' * r3 END",
        "end_reason": reason,
    }
    inserted = insert_select(
        Enrollment,
        given,
        "FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3 "
        "FROM generate_series(1, %s) AS i) AS s",
        [count],
    )
    log(f"  {inserted:,} enrollments")


def load_tasks(count: int, customers: int, rules: list[int]) -> None:
    """Older than 14 days: 90 % done, the rest cancelled; newer: half open (due a day after
    they were made, so some overdue), half done."""
    from huifang.tasks.models import Task

    t = moment("i", count)
    recent = f"({t} > now() - interval '14 days')"
    status = (
        f"CASE WHEN {recent} AND r2 < 0.4 THEN 'open' WHEN {recent} AND r2 < 0.5 "
        "THEN 'in_progress' WHEN r2 < 0.9 THEN 'done' ELSE 'cancelled' END"
    )
    closed = f"CASE WHEN NOT ({recent} AND r2 < 0.5) THEN {t} + interval '2 days' * r3 END"
    given = {
        "customer_id": f"1 + mod(i * 31, {customers})",
        "rule_id": skewed_rule(rules, "r1"),
        "step": "'call'",
        "title": "'电话回访'",
        **{column: "''" for column in ("script", "assign_strategy", "notes")},
        "status": status,
        "due_at": f"{t} + interval '1 day'",
        "closed_at": f"least(now(), {closed})",
        "outcome": f"CASE WHEN r2 < 0.9 AND NOT {recent} THEN 'reached' ELSE '' END",
        "created_at": t,
        "updated_at": t,
    }
    inserted = insert_select(
        Task,
        given,
        "FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3 "
        "FROM generate_series(1, %s) AS i) AS s",
        [count],
    )
    log(f"  {inserted:,} tasks")


def load_events(others: int, customers: int) -> None:
    """A reply naming its message for one message sent in twenty, two hours after it went; and
    ``others`` purchases on random customers."""
    from django.db import connection

    from huifang.customers.models import Event
    from huifang.messaging.models import Message

    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Event._meta.db_table} (customer_id, type, occurred_at, received_at, "  # noqa: S608
            "properties, source) SELECT customer_id, 'message_replied', sent_at + interval "
            "'2 hours', sent_at + interval '2 hours', jsonb_build_object('channel', 'sms', "
            f"'text', '好的', 'message', id), 'webhook' FROM {Message._meta.db_table} "
            "WHERE sent_at IS NOT NULL AND mod(id, 20) = 0"
        )
        log(f"  {cursor.rowcount:,} replies")
    inserted = insert_select(
        Event,
        {
            "customer_id": f"1 + mod(i * 13, {customers})",
            "type": "'purchase'",
            "occurred_at": moment("i", others),
            "received_at": moment("i", others),
            "properties": "jsonb_build_object('amount', 199)",
            "source": "'api'",
            "amount": "199",
        },
        "FROM generate_series(1, %s) AS i",
        [others],
    )
    log(f"  {inserted:,} other events")


def load(args: argparse.Namespace) -> dict[str, float]:
    from django.db import connection

    from huifang.customers.models import Customer, Event
    from huifang.engine.models import Enrollment
    from huifang.messaging.models import Message
    from huifang.tasks.models import Task

    timings: dict[str, float] = {}
    rules, versions = make_rules()
    tables = [m._meta.db_table for m in (Customer, Event, Enrollment, Message, Task)]
    indexes = SecondaryIndexes(tables)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SELECT setseed(0.42)")
    indexes.drop()
    for name, step in (
        ("customers_s", lambda: load_customers(args.customers)),
        (
            "messages_s",
            lambda: load_messages(args.messages, args.customers, args.enrollments, rules),
        ),
        (
            "enrollments_s",
            lambda: load_enrollments(args.enrollments, args.customers, rules, versions),
        ),
        ("tasks_s", lambda: load_tasks(args.tasks, args.customers, rules)),
        ("events_s", lambda: load_events(args.events, args.customers)),
        ("indexes_s", indexes.build),
    ):
        started = time.perf_counter()
        step()
        timings[name] = round(time.perf_counter() - started, 1)
        log(f"{name}: {timings[name]} s")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"coalesce(max(id), 1)) FROM {table}"
            )
        cursor.execute("RESET session_replication_role")
        cursor.execute("VACUUM ANALYZE")
    timings["analyze_s"] = round(time.perf_counter() - started, 1)
    return timings


def build_rollups() -> float:
    """Rebuild every daily rollup from the loaded rows, as ``huifang analytics rebuild``
    does (the worker then keeps them fresh); the seconds it took."""
    from django.utils import timezone

    from huifang.analytics.rollup import rebuild

    started = time.perf_counter()
    done = rebuild(None, None, timezone.now())
    seconds = round(time.perf_counter() - started, 1)
    log(f"rollups: {len(done.days)} days, {done.rows} rows, {seconds} s")
    return seconds


# -- measuring -----------------------------------------------------------------------------------


def timed(call: Any, runs: int) -> float:
    call()  # warm-up, not counted
    times = []
    for _run in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def measure(runs: int, explain: bool, label: str) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from huifang.rules.models import Rule
    from huifang.studio.dashboard import figures, period_from

    now = timezone.now()
    every = list(Rule.objects.order_by("pk").values_list("pk", flat=True))
    busiest = every[:1]
    result: dict[str, Any] = {}
    for key in ("today", "7d", "30d"):
        period = period_from({"period": key}, now)
        result[f"all_rules_{key}_ms"] = timed(lambda p=period: figures(every, p, now), runs)
        result[f"busiest_rule_{key}_ms"] = timed(lambda p=period: figures(busiest, p, now), runs)
        if explain and key == "30d":
            with CaptureQueriesContext(connection) as captured:
                figures(every, period, now)
            result["queries"] = len(captured.captured_queries)
            for query in captured.captured_queries:
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                    plan = "\n".join(row[0] for row in cursor.fetchall())
                log(f"--- {label}, 30 days, all rules ---\n{query['sql']}\n{plan}\n")
    client = Client()
    client.force_login(admin())

    def get(url: str) -> None:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    result["page_30d_ms"] = timed(lambda: get("/rules/dashboard/"), runs)
    result["rule_card_ms"] = timed(lambda: get("/rules/bench-rule-01/figures/"), runs)
    return result


def admin() -> Any:
    from django.contrib.auth import get_user_model

    from huifang.accounts.roles import Role, ensure_role_groups

    user, created = get_user_model().objects.get_or_create(username="bench-admin")
    if created:
        user.groups.add(ensure_role_groups()[Role.ADMIN])
    return user


def sizes() -> dict[str, Any]:
    from django.db import connection

    from huifang.engine.models import Enrollment
    from huifang.messaging.models import Message
    from huifang.tasks.models import Task

    tables = [m._meta.db_table for m in (Message, Enrollment, Task)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c WHERE c.relname = ANY(%s)",
            [[*DASHBOARD_INDEXES, *tables]],
        )
        return {name: f"{size / 2**20:.0f} MB" for name, size in cursor.fetchall()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--enrollments", type=int, default=3_000_000)
    parser.add_argument("--tasks", type=int, default=2_000_000)
    parser.add_argument("--events", type=int, default=2_000_000, help="besides the replies")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db-name", default="huifang_bench_dashboard")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE (on stderr)")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="PostgreSQL only")
    parser.add_argument("--smoke", action="store_true", help="a tiny throw-away database, for CI")
    args = parser.parse_args()
    if args.only == "sqlite" or (args.smoke and not postgres_answers()):
        if not args.smoke:
            raise SystemExit("bench/rules_dashboard.py runs on PostgreSQL only")
        log("PostgreSQL only, and no PostgreSQL to run on: skipped")
        skipped = {"benchmark": "rules_dashboard", "smoke": True, "skipped": "PostgreSQL only"}
        print(json.dumps(skipped))
        return
    if not args.smoke:
        benchmark(args)
        return
    args.customers, args.messages, args.enrollments = 1000, 10_000, 3000
    args.tasks, args.events, args.runs = 2000, 2000, 1
    args.db_name, args.rebuild = f"huifang_bench_{os.urandom(4).hex()}", False
    os.environ.pop("DATABASE_URL", None)  # the throw-away database is on 127.0.0.1
    os.environ.pop("REDIS_URL", None)
    create_postgres(args.db_name, os.environ.get(TEMPLATE_POSTGRES))
    try:
        benchmark(args)
    finally:
        from django.db import connections

        connections.close_all()
        drop_postgres(args.db_name)


def benchmark(args: argparse.Namespace) -> None:
    url, admin_url = server_url(args.db_name)
    setup_django(url)  # before loaded_meta, which names its table from the model
    wanted = {
        "version": DATA_VERSION,
        **{
            k: getattr(args, k) for k in ("customers", "messages", "enrollments", "tasks", "events")
        },
    }
    meta = None if args.rebuild else loaded_meta(url)
    fresh = meta is None or any(meta.get(k) != v for k, v in wanted.items())
    if fresh and not args.smoke:  # a smoke run's database is brand-new already
        log(f"building {args.db_name}: {wanted}")
        recreate_database(admin_url, args.db_name)
    from django.core.management import call_command
    from django.db import connection, transaction

    if not (args.smoke and os.environ.get(TEMPLATE_POSTGRES)):  # else a migrated copy
        call_command("migrate", verbosity=0, interactive=False)
    if fresh:
        started = time.perf_counter()
        meta = {**wanted, "load_steps_s": load(args)}
        meta["load_s"] = round(time.perf_counter() - started, 1)
        write_meta(meta)
    assert meta is not None
    if meta.get("rollups") != ROLLUPS_VERSION:  # the dashboard reads the daily rollups
        meta = {**meta, "rollups": ROLLUPS_VERSION, "rollups_s": build_rollups()}
        write_meta(meta)
    report: dict[str, Any] = {
        "benchmark": "rules_dashboard",
        **wanted,
        "smoke": args.smoke,
        "rollups_s": meta.get("rollups_s"),
        "sizes": sizes(),
    }
    report["with_indexes"] = measure(args.runs, args.explain, "with the dashboard's indexes")
    with transaction.atomic():
        with connection.cursor() as cursor:
            for name in DASHBOARD_INDEXES:
                cursor.execute(f'DROP INDEX "{name}"')
        report["without_indexes"] = measure(args.runs, args.explain, "without them")
        transaction.set_rollback(True)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
