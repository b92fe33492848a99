#!/usr/bin/env python3
"""Benchmark the analytics rollups (issue 19) at scale: a full rebuild of a year, the worker's
incremental upkeep under 1,000 new messages a second, and (a section to grow) page times.

**Data set** (built once and kept; ``--rebuild-data`` builds it again, as does a change of
``DATA_VERSION`` or of the size): ``--size`` customers (PostgreSQL 1,000,000, SQLite 100,000)
and, per customer, 10 messages, 5 tasks and 1 questionnaire response, over the 365 days
before the day of the load (ids growing with time, as in a real outbox; the busiest rule has
a sixth of everything, the quietest a trickle). Customers in 12 cities of 10 provinces, 4
business lines, 4 tiers, 4 lifecycle stages, owned by 100 agents in 10 teams; 20 rules with
3 steps each (a first message, a reminder, a questionnaire link) over SMS, e-mail and WeCom,
each channel served by its provider. Messages: 70 % delivered, 12 % sent (no receipt), 3 %
failed, 8 % dropped by the gate (no consent, do-not-contact, no address, a cap), 2 %
cancelled (plan ended), 5 % sent with no delivery receipt yet; 15 % held by quiet hours
before they went (held in the gate's decisions, sent the next morning). Every tenth message
carries a questionnaire link and is answered (its response: started an hour after, 80 %
submitted, with CSAT 1–5, NPS 0–10 and CES 1–7). A click for one sent message in eight, a
reply naming its message (``message_replied``) for one in twenty. Tasks: assigned to the
owner's agent and team, 80 % done (85 % of those before their SLA deadline), 8 %
cancelled, the rest open or in progress when recent; outcomes reached / not reached / call
back. All written by set-based SQL (``INSERT … SELECT`` over ``generate_series`` on
PostgreSQL, a recursive CTE on SQLite), on PostgreSQL with the secondary indexes built after
the rows, then ``VACUUM ANALYZE``. The built database: PostgreSQL ``--db-name``
(``huifang_bench_analytics``) on the server ``DATABASE_URL`` names (127.0.0.1 by default),
SQLite ``var/bench_analytics.db``. A kept database is migrated to the newest migrations
before each run; a pending migration that only adds indexes the database already has (one
renumbered by a merge) is recorded as applied instead of failing on "already exists".

**Sections** (``--sections``, default all):

- ``rebuild``: the wall time of ``rebuild(first, last)`` over the whole history (the median
  of ``--runs``) on ``--jobs`` connections (default the setting ``ANALYTICS_REBUILD_JOBS``;
  reported as ``jobs``, the number used: one on SQLite); target ≤ 5 minutes on PostgreSQL
  at full size. With ``--explain`` the ``EXPLAIN ANALYZE`` of one day's three statements
  goes to stderr.
- ``upkeep``: with the watermarks set at the sources' end (as a whole rebuild leaves them), a
  thread inserts ``--rate``
  (1,000) messages a second for ``--seconds`` (90) s — created, planned and released now —
  and moves them on as the dispatcher and the receipts would (sent two seconds later,
  delivered five seconds after that, each update saying when it changed the row), while
  ``refresh(now)`` runs every ``--every`` (60) s as the worker does, and once more when the
  traffic stops. Reported: the CPU seconds ``refresh`` used (this
  thread's CPU, plus on PostgreSQL its server process's CPU from ``/proc``) per second of
  traffic as a share of one core (target ≤ 10 %), and each call's wall time; then the
  rollups of the days it redid are compared with a fresh ``rollup_day`` of each
  (``rollups_equal``; a difference fails the run). Then the inserted rows are deleted and
  their days rewritten (``drop_traffic``, also at the start for rows an earlier invocation
  left): every run is the same burst on the data set as loaded. With ``--backlog N`` today
  already holds N more messages of the traffic's kind before each run (as if the traffic had
  been running for N / rate seconds): the refresh's cost must not grow with them, since it
  rewrites only the id blocks of the messages that changed (docs/analytics.md, *Speed*).
- ``days``: a day's rewrite taken apart, without changing the kept rollups: ``rollup_day``
  of 12 days spread over the history, each in a transaction rolled back afterwards; the
  median seconds of the whole day and of each of its statements (not in the default).
- ``explain``: only the ``EXPLAIN (ANALYZE, BUFFERS)`` of one day's statements (three days
  before the last), on stderr: each part should read its day's rows through an index.
- ``pages``: the server time (median and p95 of ``--runs`` × 5 requests through Django's
  test client, logged in as an analyst) of each of ``PAGES``: the 30-day rule dashboard
  (1.76 s at 10 M messages when the issue was written), the cockpit over a month and a year,
  the performance pages, the detractors and a year's drill-down list.

Prints one JSON document; figures are medians over ``--runs``.

    .venv/bin/python bench/analytics.py [--only sqlite|postgres] [--size N] [--runs 3]
        [--sections rebuild,upkeep,pages] [--seconds 90] [--rate 1000] [--every 60]
        [--jobs N] [--rebuild-data] [--explain]

``--smoke`` (for CI): on a throw-away database of each kind, 1,000 customers, 20 s of
upkeep at 100 messages a second refreshed every 5 s, one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    SECRET,
    databases,
    insert_select,
    throwaway,
    timed_page,
)

SCRIPT = str(Path(__file__).resolve())
DATA_VERSION = 1
META = "bench_analytics_meta"
DAYS = 365
RULES, TEAMS, AGENTS = 20, 10, 100
STEPS = ("first", "reminder", "survey")
CHANNELS = ("sms", "email", "wecom")
PLACES = (
    ("广东", "广州"), ("广东", "深圳"), ("上海", "上海"), ("北京", "北京"), ("浙江", "杭州"),
    ("浙江", "宁波"), ("江苏", "南京"), ("江苏", "苏州"), ("四川", "成都"), ("湖北", "武汉"),
    ("山东", "青岛"), ("福建", "厦门"),
)  # fmt: skip
LINES = ("家电", "手机数码", "汽车服务", "会员")
TIERS = ("vip", "regular", "regular", "potential", "dormant")
STAGES = ("inquiry", "post_purchase", "post_purchase", "in_service", "dormant")
DROP_REASONS = ("no_consent", "no_consent", "do_not_contact", "no_address", "cap")
OUTCOMES = ("reached", "reached", "reached", "not_reached", "call_back")
# The pages timed, first the rule dashboard the issue quotes, then the analytics pages over
# a month and a year (the issue: "any period up to a year").
PAGES = (
    "/rules/dashboard/?period=30d",
    "/analytics/?period=30d",
    "/analytics/?period=365d",
    "/analytics/?period=365d&grain=week",
    "/analytics/?period=90d",
    "/analytics/teams/?period=365d",
    "/analytics/channels/?period=365d",
    "/analytics/rules/?period=365d",
    "/analytics/detractors/?period=30d",
    "/analytics/list/?kind=messages&measure=sent&period=365d",
)
TARGETS = {"rebuild_s": 300, "upkeep_cpu_share": 0.10}
SMOKE = {
    "size": 300, "seconds": 6, "rate": 100, "every": 2, "runs": 1, "backlog": 200,
    "sections": "days,rebuild,upkeep,pages",
}  # fmt: skip


def log(message: str) -> None:
    print(f"[analytics] {message}", file=sys.stderr, flush=True)


# -- portable SQL ----------------------------------------------------------------------------


class Sql:
    """The few expressions that differ between PostgreSQL and SQLite."""

    def __init__(self, vendor: str) -> None:
        self.pg = vendor == "postgresql"

    def series(self, count: int) -> str:
        """A row source of ``i`` from 1 to ``count`` (a bigint)."""
        if self.pg:
            return f"FROM generate_series(1::bigint, {int(count)}) AS s(i)"
        recursive = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < "
        return f"FROM ({recursive}{int(count)}) SELECT i FROM s) AS s"  # noqa: S608

    @staticmethod
    def rnd(expr: str, k: int, n: int = 1000) -> str:
        """A well-mixed number in 0 … n - 1 from the integer ``expr`` (stream ``k``): the same
        on both databases, unlike random()."""
        return f"((((({expr}) + {k * 1000003}) * 2654435761) % 4294967291) % {n})"

    def at(self, base: datetime, seconds: str) -> str:
        """``base`` plus an integer number of seconds, as the column stores it."""
        if self.pg:
            return f"(timestamptz '{base.isoformat()}' + ({seconds}) * interval '1 second')"
        stamp = base.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        return f"datetime('{stamp}', '+' || ({seconds}) || ' seconds')"

    def plus(self, moment: str, seconds: str) -> str:
        if self.pg:
            return f"({moment} + ({seconds}) * interval '1 second')"
        return f"datetime({moment}, '+' || ({seconds}) || ' seconds')"

    @staticmethod
    def pick(values: tuple[Any, ...], index: str) -> str:
        """The ``index``-th (0-based, any integer) of ``values``."""
        whens = " ".join(
            f"WHEN {n} THEN {v if isinstance(v, int) else repr(v)}" for n, v in enumerate(values)
        )
        return f"(CASE ({index}) % {len(values)} {whens} END)"

    def json(self, **pairs: str) -> str:
        args = ", ".join(f"'{k}', {v}" for k, v in pairs.items())
        return f"jsonb_build_object({args})" if self.pg else f"json_object({args})"

    def json_array(self, *items: str) -> str:
        return (
            f"jsonb_build_array({', '.join(items)})"
            if self.pg
            else f"json_array({', '.join(items)})"
        )

    def iso(self, moment: str) -> str:
        if self.pg:
            return (
                f"(to_char(({moment}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || '+00:00')"
            )
        return f"(strftime('%Y-%m-%dT%H:%M:%S', {moment}) || '+00:00')"


def first_day_start(today: Any) -> datetime:
    """The UTC moment the first day of the history begins (organisation-local midnight)."""
    from huifang.analytics.rollup import day_bounds

    return day_bounds(today - timedelta(days=DAYS))[0]


def make_reference(sql: Sql) -> dict[str, list[int]]:
    """Teams, agents, providers, rules and a questionnaire, through the ORM (a few rows)."""
    from django.contrib.auth import get_user_model

    from huifang.accounts.models import StaffProfile, Team
    from huifang.accounts.roles import Role, ensure_role_groups
    from huifang.integrations.models import Provider
    from huifang.rules.models import Rule, RuleVersion
    from huifang.surveys.services import library_documents, save_survey

    groups = ensure_role_groups()
    teams = [
        Team.objects.create(key=f"bench-team-{n:02d}", name=f"回访{n:02d}组") for n in range(TEAMS)
    ]
    agents = []
    for n in range(AGENTS):
        user = get_user_model().objects.create(username=f"bench-agent-{n:03d}")
        user.groups.add(groups[Role.AGENT])
        StaffProfile.objects.update_or_create(user=user, defaults={"team": teams[n % TEAMS]})
        agents.append(user.pk)
    providers = [
        Provider.objects.create(name=f"bench {c}", kind="log", channel=c).pk for c in CHANNELS
    ]
    rules = []
    for n in range(1, RULES + 1):
        rule = Rule.objects.create(key=f"bench-rule-{n:02d}", name=f"回访策略 {n:02d}")
        version = RuleVersion.objects.create(rule=rule, number=1, content={"key": rule.key})
        rule.current_version = version
        rule.status = Rule.Status.ACTIVE
        rule.save()
        rules.append(rule.pk)
    docs = {doc.key: doc for doc in library_documents()}
    survey = save_survey(docs[sorted(docs)[0]], note="bench").version.pk
    return {
        "teams": [t.pk for t in teams],
        "agents": agents,
        "providers": providers,
        "rules": rules,
        "survey": [survey],
    }


def skewed(values: list[int], r: str) -> str:
    """One of ``values`` from ``r`` in 0 … 999: the first the busiest, falling off as a square."""
    n = len(values)
    return Sql.pick(tuple(values), f"({n} * {r} * {r}) / 1000000")


def load(sql: Sql, size: int, today: Any) -> dict[str, Any]:
    from django.db import connection

    from huifang.accounts.models import StaffProfile
    from huifang.customers.models import Customer, Event
    from huifang.messaging.models import Click, Message
    from huifang.surveys.models import Response
    from huifang.tasks.models import Task

    ref = make_reference(sql)
    base = first_day_start(today)
    rnd = Sql.rnd
    timings: dict[str, float] = {}
    customers, messages, tasks = size, size * 10, size * 5
    tables = [m._meta.db_table for m in (Customer, Event, Message, Click, Task, Response)]
    indexes = None
    if sql.pg:
        from workspace import SecondaryIndexes

        indexes = SecondaryIndexes(tables)
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            cursor.execute("SET maintenance_work_mem = '512MB'")
        indexes.drop()
    place = f"{rnd('i', 1)} % {len(PLACES)}"
    agent = sql.pick(tuple(ref["agents"]), rnd("i", 2))

    def load_customers() -> int:
        return insert_select(
            Customer,
            {
                "external_id": "'BAN' || i",
                "name": "'客户' || i",
                "phone": "'+86' || (13900000000 + i)",
                "province": sql.pick(tuple(p for p, _c in PLACES), place),
                "city": sql.pick(tuple(c for _p, c in PLACES), place),
                "business_line": sql.pick(LINES, rnd("i", 3)),
                "tier": sql.pick(TIERS, rnd("i", 4)),
                "lifecycle_stage": sql.pick(STAGES, rnd("i", 5)),
                "source": "'import'",
                "owner_id": agent,
                "created_at": sql.at(base, "0"),
                "updated_at": sql.at(base, "0"),
            },
            sql.series(customers),
        )

    # A message: its day grows with its id; planned in the day's working hours (09–21 local).
    day = f"((i - 1) * {DAYS} / {messages})"
    planned = sql.at(base, f"{day} * 86400 + 32400 + {rnd('i', 6, 43200)}")
    fate = f"(CASE WHEN i % 10 = 0 THEN {rnd('i', 7, 800)} ELSE {rnd('i', 7)} END)"
    held = f"({rnd('i', 8)} < 150 AND {fate} < 900)"
    released = f"(CASE WHEN {held} THEN {sql.plus(planned, '43200')} ELSE {planned} END)"
    gone = f"({fate} < 850 OR {fate} >= 950)"
    dropped = f"({fate} >= 880 AND {fate} < 930)"
    cancelled = f"({fate} >= 930 AND {fate} < 950)"
    sent = f"{sql.plus(released, '5')}"
    status = (
        f"CASE WHEN {fate} < 700 THEN 'delivered' WHEN {fate} < 820 THEN 'sent' "
        f"WHEN {fate} < 850 THEN 'failed' WHEN {fate} < 880 THEN 'failed' "
        f"WHEN {dropped} THEN 'dropped' WHEN {cancelled} THEN 'cancelled' ELSE 'sent' END"
    )
    reason = (
        f"CASE WHEN {dropped} THEN {sql.pick(DROP_REASONS, 'i')} "
        f"WHEN {cancelled} THEN 'ended' ELSE '' END"
    )
    step = "(CASE WHEN i % 10 = 0 THEN 2 ELSE i % 2 END)"
    channel = rnd("i", 9, len(CHANNELS))
    decide = sql.json_array(
        sql.json(at=sql.iso(planned), action="'defer'", reason="'quiet_hours'"),
        sql.json(at=sql.iso(released), action="'send'"),
    )
    drop = sql.json_array(sql.json(at=sql.iso(planned), action="'drop'", reason=reason))
    send = sql.json_array(sql.json(at=sql.iso(planned), action="'send'"))
    customer = f"(1 + {rnd('i', 10, customers)})"

    def load_messages() -> int:
        failed_sent = f"{fate} >= 820 AND {fate} < 850"  # failed by the carrier after it went
        return insert_select(
            Message,
            {
                "id": "i",
                "customer_id": f"{customer} + {first_customer}",
                "rule_id": skewed(ref["rules"], rnd("i", 11)),
                "step": sql.pick(STEPS, step),
                "channel": sql.pick(CHANNELS, channel),
                "channels": sql.json_array(sql.pick(CHANNELS, channel)),
                "template": "'thanks'",
                "status": status,
                "reason": reason,
                "planned_at": planned,
                "holds": f"CASE WHEN {held} THEN 1 ELSE 0 END",
                "decisions": (
                    f"CASE WHEN {dropped} THEN {drop} WHEN {held} THEN {decide} ELSE {send} END"
                ),
                "queued_at": f"CASE WHEN NOT {dropped} THEN {released} END",
                "ready_at": f"CASE WHEN NOT {dropped} THEN {released} END",
                "sent_at": f"CASE WHEN {gone} OR {failed_sent} THEN {sent} END",
                "attempts": f"CASE WHEN {dropped} OR {cancelled} THEN 0 ELSE 1 END",
                "transport": f"CASE WHEN {dropped} OR {cancelled} THEN '' ELSE 'log' END",
                "provider_id": (
                    f"CASE WHEN {dropped} OR {cancelled} THEN NULL ELSE "
                    f"{sql.pick(tuple(ref['providers']), channel)} END"
                ),
                "provider_ref": f"CASE WHEN {gone} OR {failed_sent} THEN 'log-' || i ELSE '' END",
                "error": f"CASE WHEN {fate} >= 820 AND {fate} < 880 THEN 'rejected' ELSE '' END",
                "survey_version_id": f"CASE WHEN i % 10 = 0 THEN {ref['survey'][0]} END",
                "body": "'【回访中心】您好，感谢您近期的惠顾，回复本短信即可联系我们。退订回T'",
                "delivered_at": f"CASE WHEN {fate} < 700 THEN {sql.plus(sent, '40')} END",
                "created_at": planned,
            },
            sql.series(messages),
        )

    def load_clicks() -> int:
        return insert_select(
            Click,
            {
                "message_id": "m.id",
                "index": "0",
                "url": "'https://example.com/s/' || m.id",
                "clicked_at": sql.plus("m.sent_at", "1800"),
                "user_agent": "'Mozilla/5.0 (iPhone)'",
            },
            f"FROM {Message._meta.db_table} m WHERE m.sent_at IS NOT NULL AND m.id % 8 = 3",
        )

    def load_replies() -> int:
        return insert_select(
            Event,
            {
                "customer_id": "m.customer_id",
                "type": "'message_replied'",
                "occurred_at": sql.plus("m.sent_at", "7200"),
                "received_at": sql.plus("m.sent_at", "7200"),
                "properties": sql.json(channel="m.channel", text="'好的，谢谢'", message="m.id"),
                "source": "'webhook'",
            },
            f"FROM {Message._meta.db_table} m WHERE m.sent_at IS NOT NULL AND m.id % 20 = 7",
        )

    def load_responses() -> int:
        r = "m.id"
        submitted = f"{rnd(r, 12)} < 800"
        csat, nps, ces = f"1 + {rnd(r, 13, 5)}", rnd(r, 14, 11), f"1 + {rnd(r, 15, 7)}"
        return insert_select(
            Response,
            {
                "version_id": "m.survey_version_id",
                "customer_id": "m.customer_id",
                "channel": "m.channel",
                "message_id": "m.id",
                "rule_id": "m.rule_id",
                "team_id": "p.team_id",
                "started_at": sql.plus("m.sent_at", "3600"),
                "submitted_at": f"CASE WHEN {submitted} THEN {sql.plus('m.sent_at', '3900')} END",
                "answers": sql.json(nps=nps, csat=csat),
                "csat": f"CASE WHEN {submitted} THEN {csat} END",
                "nps": f"CASE WHEN {submitted} THEN {nps} END",
                "ces": f"CASE WHEN {submitted} THEN {ces} END",
            },
            f"FROM {Message._meta.db_table} m JOIN {Customer._meta.db_table} c "
            f"ON c.id = m.customer_id LEFT JOIN {StaffProfile._meta.db_table} p "
            "ON p.user_id = c.owner_id "
            "WHERE m.survey_version_id IS NOT NULL AND m.sent_at IS NOT NULL",
        )

    def load_tasks() -> int:
        tday = f"((i - 1) * {DAYS} / {tasks})"
        created = sql.at(base, f"{tday} * 86400 + 28800 + {rnd('i', 16, 36000)}")
        state = rnd("i", 17)
        recent = f"({tday} >= {DAYS - 7})"
        open_ = f"({recent} AND {state} >= 700)"
        done = f"(NOT {open_} AND {state} < 800)"
        closed = sql.plus(created, f"CASE WHEN {rnd('i', 18)} < 850 THEN 7200 ELSE 180000 END")
        owner = f"(1 + {rnd('i', 19, customers)})"
        agent_of = sql.pick(tuple(ref["agents"]), rnd("i", 20))
        team_of = sql.pick(tuple(ref["teams"]), f"{rnd('i', 20)} % {AGENTS}")
        return insert_select(
            Task,
            {
                "customer_id": f"{owner} + {first_customer}",
                "rule_id": skewed(ref["rules"], rnd("i", 21)),
                "step": "'call'",
                "title": "'电话回访'",
                "status": (
                    f"CASE WHEN {open_} AND {state} < 850 THEN 'open' WHEN {open_} "
                    f"THEN 'in_progress' WHEN {done} THEN 'done' ELSE 'cancelled' END"
                ),
                "team_id": team_of,
                "assignee_id": agent_of,
                "assigned_at": created,
                "due_at": sql.plus(created, "86400"),
                "started_at": f"CASE WHEN {done} THEN {sql.plus(created, '3600')} END",
                "closed_at": f"CASE WHEN NOT {open_} THEN {closed} END",
                "outcome": f"CASE WHEN {done} THEN {sql.pick(OUTCOMES, 'i')} ELSE '' END",
                "attempts": f"CASE WHEN {done} THEN 1 ELSE 0 END",
                "created_at": created,
                "updated_at": f"CASE WHEN NOT {open_} THEN {closed} ELSE {created} END",
            },
            sql.series(tasks),
        )

    first_customer = 0
    steps = [
        ("customers", load_customers),
        ("messages", load_messages),
        ("clicks", load_clicks),
        ("replies", load_replies),
        ("responses", load_responses),
        ("tasks", load_tasks),
    ]
    counts: dict[str, int] = {}
    for name, step_ in steps:
        started = time.perf_counter()
        if name == "messages":
            first_customer = (
                int(Customer.objects.order_by("pk").values_list("pk", flat=True)[0]) - 1
            )
        counts[name] = step_()
        timings[f"{name}_s"] = round(time.perf_counter() - started, 1)
        log(f"  {counts[name]:,} {name} in {timings[f'{name}_s']} s")
    started = time.perf_counter()
    if indexes is not None:
        indexes.build()
    with connection.cursor() as cursor:
        if sql.pg:
            for table in tables:
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"coalesce(max(id), 1)) FROM {table}"
                )
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
    timings["indexes_analyze_s"] = round(time.perf_counter() - started, 1)
    return {"rows": counts, "load_steps_s": timings}


# -- the kept database -------------------------------------------------------------------------


def read_meta() -> dict[str, Any] | None:
    from django.db import connection

    if META not in connection.introspection.table_names():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT data FROM {META}")  # noqa: S608
        row = cursor.fetchone()
    return json.loads(row[0]) if row else None


def write_meta(data: dict[str, Any]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {META} (data text NOT NULL)")
        cursor.execute(f"DELETE FROM {META}")  # noqa: S608
        cursor.execute(f"INSERT INTO {META} (data) VALUES (%s)", [json.dumps(data)])  # noqa: S608


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Django set up on the benchmark's database, migrated and loaded (once): its meta."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from huifang.analytics.rollup import local_day

    meta = None if args.rebuild_data else read_meta()
    wanted = {"version": DATA_VERSION, "size": args.size}
    if meta is None or any(meta.get(k) != v for k, v in wanted.items()):
        if not args.rebuild_data and (meta is not None or connection.introspection.table_names()):
            raise SystemExit("the database holds other data: drop it or use --rebuild-data")
        call_command("migrate", verbosity=0, interactive=False)
        log(f"building the data set: {wanted}")
        started = time.perf_counter()
        today = local_day(timezone.now())
        meta = {
            **wanted,
            "today": today.isoformat(),
            **load(Sql(connection.vendor), args.size, today),
        }
        meta["load_s"] = round(time.perf_counter() - started, 1)
        write_meta(meta)
        log(f"built in {meta['load_s']} s")
    else:
        fake_renamed_index_migrations()
        call_command("migrate", verbosity=0, interactive=False)
    return meta


def fake_renamed_index_migrations() -> None:
    """Mark as applied each pending migration that only adds indexes the kept database already
    has: one renumbered by a merge (``surveys 0006_analytics_day_indexes`` became ``0007``)
    would otherwise fail with "relation … already exists"."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.db.migrations.operations import AddIndex

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes"
            if connection.vendor == "postgresql"
            else "SELECT name FROM sqlite_master WHERE type = 'index'"
        )
        existing = {row[0] for row in cursor.fetchall()}
    for migration, backwards in plan:
        adds = [op for op in migration.operations if isinstance(op, AddIndex)]
        if backwards or not adds or len(adds) != len(migration.operations):
            continue
        if all(op.index.name in existing for op in adds):
            log(f"recording {migration.app_label} {migration.name} as applied (indexes present)")
            executor.recorder.record_applied(migration.app_label, migration.name)


# -- sections ----------------------------------------------------------------------------------


def rollup_rows(days: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row of ``days``, as sorted tuples without their ids."""
    from huifang.analytics.models import AnswerDay, MessageDay, TaskDay

    found = {}
    for model in (MessageDay, TaskDay, AnswerDay):
        names = [f.name for f in model._meta.local_concrete_fields if not f.primary_key]
        rows = model.objects.filter(day__in=days).values_list(*names)
        found[model.__name__] = sorted(rows, key=repr)
    return found


def explain_day(day: Any) -> None:
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from huifang.analytics.rollup import rollup_day

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        rollup_day(day)
        for query in captured.captured_queries:
            if not query["sql"].startswith("INSERT"):
                continue
            with connection.cursor() as cursor:
                prefix = (
                    "EXPLAIN (ANALYZE, BUFFERS) "
                    if connection.vendor == "postgresql"
                    else "EXPLAIN QUERY PLAN "
                )
                cursor.execute(prefix + query["sql"].split(" SELECT", 1)[1].join(["SELECT", ""]))
                plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            log(f"--- {query['sql'][:60]} … ({query['time']} s)\n{plan}\n")
        transaction.set_rollback(True)


def rebuild_section(args: argparse.Namespace) -> dict[str, Any]:
    from django.utils import timezone

    from huifang.analytics.kpis import CUT_ROLLUPS
    from huifang.analytics.models import AnswerDay, MessageDay, TaskDay
    from huifang.analytics.rollup import history, rebuild

    span = history()
    assert span is not None
    first, last = span
    if args.explain:
        explain_day(last - timedelta(days=3))
    times, rows = [], 0
    for n in range(args.runs):
        started = time.perf_counter()
        done = rebuild(first, last, timezone.now(), jobs=args.jobs)
        times.append(time.perf_counter() - started)
        rows = done.rows
        log(
            f"rebuild {n + 1}/{args.runs}: {len(done.days)} days, {rows:,} rows, "
            f"{times[-1]:.1f} s, {done.jobs} jobs"
        )
    return {
        "days": (last - first).days + 1,
        "jobs": done.jobs,
        "rollup_rows": rows,
        "rollup_rows_by_table": {
            m.__name__: m.objects.count()
            for m in (MessageDay, TaskDay, AnswerDay, *CUT_ROLLUPS.values())
        },
        "rebuild_s": round(statistics.median(times), 1),
        "rebuild_runs_s": [round(t, 1) for t in times],
        "target_s": TARGETS["rebuild_s"],
    }


def backend_cpu() -> float:
    """CPU seconds used so far by this connection's database server process (PostgreSQL on
    this machine), 0 for SQLite, whose work is this thread's own."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0.0
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")  # a server elsewhere: only this process's share is counted
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def new_messages(sql: Sql, ref: dict[str, int], offset: int, at: str) -> dict[str, str]:
    """The columns of the upkeep's new messages (``i`` from 1), made, planned and released at
    ``at``, for the bench rule and random bench customers."""
    channel = Sql.rnd(f"i + {offset}", 9, len(CHANNELS))
    return {
        "customer_id": f"{ref['first_customer']} + 1 + "
        f"{Sql.rnd(f'i + {offset}', 10, ref['customers'])}",
        "rule_id": str(ref["rule"]),
        "step": "'first'",
        "channel": sql.pick(CHANNELS, channel),
        "channels": sql.json_array(sql.pick(CHANNELS, channel)),
        "template": "'thanks'",
        "status": "'queued'",
        "planned_at": at,
        "queued_at": at,
        "ready_at": at,
        "decisions": sql.json_array(sql.json(at=sql.iso(at), action="'send'")),
        "body": "'【回访中心】您好，感谢您近期的惠顾。'",
        "created_at": at,
    }


def add_backlog(ref: dict[str, int], count: int, rate: int) -> int:
    """``count`` messages of the traffic's kind made before now, as if it had been running
    for ``count / rate`` seconds (sent two seconds and delivered seven after they were made),
    and their days rolled up: the day the burst lands on already holds them. The number
    added (they are above the data set's ids, so ``drop_traffic`` removes them)."""
    from django.db import connection
    from django.utils import timezone

    from huifang.analytics.rollup import SOURCES, _days_of, cut_months, rollup_day
    from huifang.messaging.models import Message

    if count <= 0:
        return 0
    sql = Sql(connection.vendor)
    # From count / rate seconds (and ten more) before now, ``rate`` a second.
    start = timezone.now() - timedelta(seconds=count / rate + 10)
    at = sql.at(start, f"i / {int(rate)}")
    columns = new_messages(sql, ref, ref["top"], at)
    columns.update(
        status="'delivered'", sent_at=sql.plus(at, "2"), delivered_at=sql.plus(at, "7"),
        attempts="1", transport="'log'", provider_ref="'log-' || i",
    )  # fmt: skip
    insert_select(Message, columns, sql.series(count))
    added = Message.objects.filter(pk__gt=ref["top"])
    days = _days_of(added, SOURCES["message"][1])
    for day in sorted(days):
        rollup_day(day)
    cut_months(days)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {Message._meta.db_table}")
    return count


class Traffic(threading.Thread):
    """New messages at ``rate`` a second, sent two seconds and delivered seven seconds after
    they were made, as the dispatcher moves them on (one statement per step, every 0.2 s)."""

    TICK = 0.2

    def __init__(self, rate: int, seconds: float, ref: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.rate, self.seconds, self.ref = rate, seconds, ref
        self.inserted = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection

        try:
            self.loop()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            connection.close()

    def loop(self) -> None:
        from django.db import connection
        from django.utils import timezone

        from huifang.messaging.models import Message

        sql = Sql(connection.vendor)
        table = Message._meta.db_table
        per_tick = max(1, round(self.rate * self.TICK))
        started = time.perf_counter()
        tick = 0
        while (elapsed := time.perf_counter() - started) < self.seconds:
            now = timezone.now()
            offset = self.ref["top"] + self.inserted
            insert_select(
                Message,
                new_messages(sql, self.ref, offset, sql.at(now, "0")),
                sql.series(per_tick),
            )
            self.inserted += per_tick
            # Through the dispatcher's own indexes: the queue (message_ready_idx) and a rule's
            # sent messages (message_rule_sent_idx).
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET status = 'sent', sent_at = %s, attempts = 1, "  # noqa: S608
                    "transport = 'log', provider_ref = 'log-' || id, changed_at = %s "
                    "WHERE status = 'queued' AND ready_at <= %s",
                    [now, now, now - timedelta(seconds=2)],
                )
                cursor.execute(
                    f"UPDATE {table} SET status = 'delivered', delivered_at = %s, "  # noqa: S608
                    "changed_at = %s "
                    "WHERE rule_id = %s AND status = 'sent' AND sent_at <= %s AND sent_at > %s",
                    [
                        now,
                        now,
                        self.ref["rule"],
                        now - timedelta(seconds=5),
                        now - timedelta(seconds=30),
                    ],
                )
            tick += 1
            time.sleep(max(0.0, tick * self.TICK - (time.perf_counter() - started)))
        del elapsed


def drop_traffic(loaded: int) -> int:
    """Delete the messages upkeep traffic added (every message above the data set's ``loaded``
    first ones) and rewrite the days they counted on: each run starts from the data set as
    loaded, not from a day grown by the runs before it. The number deleted."""
    from django.db import connection

    from huifang.analytics.rollup import SOURCES, _days_of, cut_months, rollup_day
    from huifang.messaging.models import Message

    top = Message.objects.order_by("pk").values_list("pk", flat=True)[loaded - 1]
    added = Message.objects.filter(pk__gt=top)
    days = _days_of(added, SOURCES["message"][1])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Message._meta.db_table} WHERE id > %s", [top])  # noqa: S608
        deleted = int(cursor.rowcount or 0)
    for day in sorted(days):
        rollup_day(day)
    cut_months(days)
    if deleted and connection.vendor == "postgresql":
        # The deleted rows' index entries and the traffic's old row versions, gone as
        # autovacuum would take them away (without it each run read more dead rows than
        # the last: 11.9 → 12.9 → 15.0 %).
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {Message._meta.db_table}")
    return deleted


def upkeep_section(args: argparse.Namespace, loaded: int) -> dict[str, Any]:
    from django.db.models import Max
    from django.utils import timezone

    from huifang.analytics.models import Watermark
    from huifang.analytics.rollup import SOURCES, refresh, rollup_day
    from huifang.customers.models import Customer
    from huifang.messaging.models import Message
    from huifang.rules.models import Rule

    left = drop_traffic(loaded)  # by an earlier run of the benchmark
    if left:
        log(f"upkeep: removed {left:,} messages an earlier run added")
    # A refresh rewrites only what changed: on rollups never built, the days it rewrote would
    # hold its steps' rows and lack the others (``rollups_equal`` false).
    ensure_rollups("upkeep")

    # The watermarks at the sources' end, as after a rebuild of the whole history (a first
    # refresh would read every row of history).
    for name, (model, _fields) in SOURCES.items():
        top = model.objects.aggregate(top=Max("pk"))["top"] or 0
        Watermark.objects.update_or_create(source=name, defaults={"last_id": top})
    Watermark.objects.update_or_create(source="refresh", defaults={"at": timezone.now()})
    customers = Customer.objects.filter(external_id__startswith="BAN")
    ref = {
        "top": Message.objects.aggregate(top=Max("pk"))["top"] or 0,
        "first_customer": customers.order_by("pk").values_list("pk", flat=True)[0] - 1,
        "customers": customers.count(),
        "rule": Rule.objects.filter(key="bench-rule-01").values_list("pk", flat=True)[0],
    }
    runs = []
    for run in range(args.runs):
        if args.backlog:
            started = time.perf_counter()
            ref["top"] += add_backlog(ref, args.backlog, args.rate)
            took = time.perf_counter() - started
            log(f"upkeep: today holds {args.backlog:,} more messages (added in {took:.0f} s)")
            for name, (model, _fields) in SOURCES.items():
                top = model.objects.aggregate(top=Max("pk"))["top"] or 0
                Watermark.objects.update_or_create(source=name, defaults={"last_id": top})
            Watermark.objects.update_or_create(source="refresh", defaults={"at": timezone.now()})
        traffic = Traffic(args.rate, args.seconds, ref)
        calls: list[dict[str, float]] = []
        days: set[Any] = set()

        def one_refresh(calls: list[dict[str, float]] = calls, days: set[Any] = days) -> None:
            cpu, server = time.thread_time(), backend_cpu()
            started = time.perf_counter()
            done = refresh(timezone.now())
            wall = time.perf_counter() - started
            calls.append(
                {
                    "wall_s": round(wall, 3),
                    "cpu_s": round(time.thread_time() - cpu + backend_cpu() - server, 3),
                    "days": len(done.days),
                }
            )
            days.update(done.days)

        started = time.perf_counter()
        traffic.start()
        next_at = started + args.every
        while traffic.is_alive():
            traffic.join(max(0.0, next_at - time.perf_counter()))
            if traffic.is_alive() and time.perf_counter() >= next_at:
                one_refresh()
                next_at += args.every
        traffic_s = time.perf_counter() - started
        if traffic.error is not None:
            raise traffic.error
        one_refresh()  # the last stretch of traffic, as the next minute's run would see it
        ref["top"] += traffic.inserted
        cpu = sum(c["cpu_s"] for c in calls)
        before = rollup_rows(sorted(days))
        for day in sorted(days):
            rollup_day(day)
        equal = rollup_rows(sorted(days)) == before
        drop_traffic(loaded)
        runs.append(
            {
                "messages": traffic.inserted,
                "traffic_s": round(traffic_s, 1),
                "refresh_calls": calls,
                "refresh_cpu_s": round(cpu, 2),
                "cpu_share_of_one_core": round(cpu / traffic_s, 4),
                "refresh_wall_median_s": round(statistics.median(c["wall_s"] for c in calls), 3),
                "refresh_wall_max_s": max(c["wall_s"] for c in calls),
                "rollups_equal": equal,
            }
        )
        log(f"upkeep {run + 1}/{args.runs}: {json.dumps(runs[-1])}")
    return {
        "rate_per_s": args.rate,
        "refresh_every_s": args.every,
        "cpu_share_of_one_core": round(
            statistics.median(r["cpu_share_of_one_core"] for r in runs), 4
        ),
        "refresh_wall_median_s": round(
            statistics.median(r["refresh_wall_median_s"] for r in runs), 3
        ),
        "refresh_wall_max_s": max(r["refresh_wall_max_s"] for r in runs),
        "rollups_equal": all(r["rollups_equal"] for r in runs),
        "backlog": args.backlog,
        "target_cpu_share": TARGETS["upkeep_cpu_share"],
        "runs": runs,
    }


def analyst() -> Any:
    from django.contrib.auth import get_user_model

    from huifang.accounts.roles import Role, ensure_role_groups

    user, created = get_user_model().objects.get_or_create(username="bench-analyst")
    if created:
        user.groups.add(ensure_role_groups()[Role.ANALYST])
    return user


def days_section(args: argparse.Namespace, count: int = 12) -> dict[str, Any]:
    """A day's rewrite taken apart: ``rollup_day`` of ``count`` days spread over the history,
    each in a transaction rolled back afterwards (the kept rollups stay as they were, and
    each day is rewritten among them as the refresh and the nightly rebuild rewrite theirs),
    ``--runs`` times; the median seconds of the whole day and of each statement."""
    from django.db import transaction

    from huifang.analytics import rollup

    ensure_rollups("days")
    span = rollup.history()
    assert span is not None
    first, last = span[0], span[1] - timedelta(days=1)  # not today: partly written
    step = max((last - first).days // max(count - 1, 1), 1)
    days = [
        first + timedelta(days=step * n)
        for n in range(count)
        if first + timedelta(days=step * n) <= last
    ]
    names = ("_messages", "_tasks", "_answers", "_events", "_dashboard", "_dashboard_messages",
             "_answer_cuts", "_cuts")  # fmt: skip
    spent: dict[str, list[float]] = {name: [] for name in ("day", *names)}
    originals = {name: getattr(rollup, name) for name in names}

    def timed(name: str) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name].append(time.perf_counter() - started)

        return run

    try:
        for name in names:
            setattr(rollup, name, timed(name))
        for _run in range(args.runs):
            for day in days:
                with transaction.atomic():
                    started = time.perf_counter()
                    rollup.rollup_day(day)
                    spent["day"].append(time.perf_counter() - started)
                    transaction.set_rollback(True)
    finally:
        for name, original in originals.items():
            setattr(rollup, name, original)
    found = {
        "days": [day.isoformat() for day in days],
        "median_s": {k.lstrip("_"): round(statistics.median(v), 3) for k, v in spent.items() if v},
    }
    log(f"days: {found['median_s']}")
    return found


def ensure_rollups(section: str) -> None:
    """Build the rollups over the whole history when no rebuild has run on this data set (a
    freshly loaded one): the pages read only rollups, and would be timed reading nothing."""
    from django.utils import timezone

    from huifang.analytics.models import MessageDay
    from huifang.analytics.rollup import rebuild

    if not MessageDay.objects.exists():
        log(f"{section}: building the rollups first (no rebuild has run on this data set)")
        rebuild(None, None, timezone.now())


def pages_section(args: argparse.Namespace, urls: tuple[str, ...] = PAGES) -> dict[str, Any]:
    """Each of ``urls`` as an analyst: the median over ``--runs`` of the median and p95 server
    time of five requests (after a warm-up). On PostgreSQL the rollups are vacuumed first, as
    autovacuum would have done by then: the minute refresh rewrites today's and this month's
    cut rows, and with autovacuum off (this machine's CI configuration) the upkeep runs left
    a third of the cut tables dead (a year's cockpit 45 → 110 ms)."""
    from django.db import connection
    from django.test import Client

    from huifang.analytics.rollup import ROLLUPS

    ensure_rollups("pages")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in ROLLUPS:
                cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
    client = Client()
    client.force_login(analyst())
    found = {}
    for url in urls:
        samples = [timed_page(client, url, 5) for _ in range(args.runs)]
        found[url] = {
            "median_ms": round(statistics.median(s["median_ms"] for s in samples), 1),
            "p95_ms": round(statistics.median(s["p95_ms"] for s in samples), 1),
        }
        log(f"page {url}: {found[url]}")
    return found


# -- one database, in this process -------------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    os.environ.setdefault("SECRET_KEY", SECRET)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    os.environ.setdefault("HUIFANG_TESTING", "1")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import warnings

    import django

    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()
    from django.db import connection

    meta = prepare(args)
    document: dict[str, Any] = {
        "benchmark": "analytics",
        "database": connection.vendor,
        "smoke": args.smoke,
        "data_set": {k: meta[k] for k in ("size", "rows", "load_s", "load_steps_s", "today")},
        "cpu_count": os.cpu_count(),
    }
    sections = args.sections.split(",")
    if "explain" in sections:  # one day's statements only, on stderr
        from huifang.analytics.rollup import history

        span = history()
        assert span is not None
        explain_day(span[1] - timedelta(days=3))
    if "days" in sections:
        document["days"] = days_section(args)
    if "rebuild" in sections:
        document["rebuild"] = rebuild_section(args)
    if "upkeep" in sections:
        document["upkeep"] = upkeep_section(args, meta["rows"]["messages"])
    if "pages" in sections:
        document["pages"] = pages_section(args)
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str))


# -- the driver ----------------------------------------------------------------------------------


def database_url(database: str, db_name: str) -> str:
    if database == "sqlite":
        (ROOT / "var").mkdir(exist_ok=True)
        return f"sqlite:///{ROOT / 'var' / 'bench_analytics.db'}"
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        base = "postgres://postgres@127.0.0.1:5432/postgres"
        parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db_name}", parts.query, ""))


def fresh_database(database: str, url: str) -> None:
    """Drop the kept database (``--rebuild-data``)."""
    if database == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(urlsplit(url).path + suffix).unlink(missing_ok=True)
        return
    name = urlsplit(url).path.lstrip("/")
    if not name.startswith("huifang_bench"):
        raise SystemExit(f"refusing to drop {name!r}: --db-name must start with huifang_bench")
    import psycopg

    admin = urlunsplit(("postgresql", urlsplit(url).netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def ensure_postgres(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin = urlunsplit(("postgresql", urlsplit(url).netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def child_args(args: argparse.Namespace, size: int) -> list[str]:
    return [
        sys.executable, SCRIPT, "--worker", "--size", str(size), "--runs", str(args.runs),
        "--sections", args.sections, "--seconds", str(args.seconds), "--rate", str(args.rate),
        "--every", str(args.every), "--backlog", str(args.backlog),
        *(["--jobs", str(args.jobs)] if args.jobs else []),
        *(["--explain"] if args.explain else []), *(["--smoke"] if args.smoke else []),
    ]  # fmt: skip


def run_child(env: dict[str, str], command: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(command[1:3])} failed (exit {done.returncode})")
    return dict(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--size", type=int, help="customers (postgres 1,000,000, sqlite 100,000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sections", default="rebuild,upkeep,pages")
    parser.add_argument("--seconds", type=float, default=90, help="of traffic per upkeep run")
    parser.add_argument("--rate", type=int, default=1000, help="new messages a second")
    parser.add_argument("--every", type=float, default=60, help="seconds between refreshes")
    parser.add_argument(
        "--backlog", type=int, default=0, help="messages today holds before each upkeep run"
    )
    parser.add_argument(
        "--jobs", type=int, help="rebuild connections (default ANALYTICS_REBUILD_JOBS)"
    )
    parser.add_argument("--db-name", default="huifang_bench_analytics")
    parser.add_argument("--rebuild-data", action="store_true")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN one day's statements")
    parser.add_argument("--smoke", action="store_true", help="tiny throw-away databases, for CI")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    results = {}
    for database in databases(args.only):
        size = args.size or (1_000_000 if database == "postgres" else 100_000)
        command = child_args(args, size)
        if args.smoke:
            with throwaway(database) as env:
                results[database] = run_child(env, [*command, "--rebuild-data"])
            continue
        env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
        url = env["DATABASE_URL"] = database_url(database, args.db_name)
        env.setdefault("SECRET_KEY", SECRET)
        env["PYTHONPATH"] = str(ROOT)
        if args.rebuild_data:
            fresh_database(database, url)
        elif database == "postgres":
            ensure_postgres(url)
        results[database] = run_child(env, command)
    document = {"benchmark": "analytics", "smoke": args.smoke, "results": results}
    print(json.dumps(document, indent=2, ensure_ascii=False, default=str))
    failed = [d for d, r in results.items() if "upkeep" in r and not r["upkeep"]["rollups_equal"]]
    if failed:
        raise SystemExit(f"rollups after the upkeep differ from a fresh rollup on {failed}")


if __name__ == "__main__":
    main()
