#!/usr/bin/env python3
"""Benchmark the agent's workspace (issue 5) on PostgreSQL: "My follow-ups" and the task page.

Against one database, built once and kept (``--db-name``, default ``huifang_bench_workspace``;
``--rebuild`` builds it again): 1,000,000 customers, 5,000,000 follow-up tasks and 3,000,000
customer events (2,000,000 of them purchases), 20 teams of 20 agents, all written by set-based
SQL (``INSERT … SELECT … FROM generate_series``), the secondary indexes built after the rows,
then ``VACUUM ANALYZE``. 78 % of the tasks are done (closed over the past two years, 1 % of
them today), 2 % cancelled, 20 % open or in progress — overdue, due today or later — of which
one in five is in an agent's queue and the rest in the team queues: a typical agent has about
10,500 tasks, about 500 of them open. Then, in this process, with Django's test client (no network),
after a warm-up pass that is not counted:

- ``my_followups``: server time of ``tasks:mine`` — no tab, each of the four tabs and the
  second page of "Upcoming" — for 20 agents (one per team), p50 and p95 per run, the median of
  ``--runs`` runs; ``per_tab`` the same per tab;
- ``task_page``: server time of ``tasks:detail`` for five of each agent's tasks (overdue, today,
  upcoming, done today, done long ago);
- the SQL queries of each page (``CaptureQueriesContext``, on separate requests, never the timed
  ones) for an agent with 5 rows in every tab and one with 50 (a full page), and for a task whose
  customer has no history against one with a full customer 360 (orders, tickets, answers, ten
  earlier follow-ups, 40 history lines): a page whose count grows with its rows has an N+1.

Before measuring, each run moves a few of the measured agents' tasks into today (due today,
done today), so a database built on another day still fills every tab.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/workspace.py [--customers 1000000] [--tasks 5000000]
        [--events 3000000] [--runs 5] [--db-name huifang_bench_workspace] [--rebuild] [--explain]

DATABASE_URL says which server (default postgres://postgres@127.0.0.1:5432/); the database is
always ``--db-name``. Target: p95 ≤ 100 ms for both pages, and the same number of queries
whatever the number of rows.

``--smoke`` (for CI): 1,000 customers, 10,000 tasks, 3,000 events, 2 teams of 7 agents, one
run, on a throw-away database dropped afterwards; exits non-zero when a page fails or a page's
number of queries grows with its rows. PostgreSQL only, like the benchmark (the loader is
PostgreSQL SQL): with ``--only sqlite`` or no PostgreSQL answering, it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    from common import (
        TEMPLATE_POSTGRES,
        create_postgres,
        drop_postgres,
        insert_select,
        postgres_answers,
    )
except ImportError:  # imported as bench.workspace
    from bench.common import (
        TEMPLATE_POSTGRES,
        create_postgres,
        drop_postgres,
        insert_select,
        postgres_answers,
    )

SECRET = "bench-only-secret-key-0123456789-abcdefghijklmnop"
TARGET_P95_MS = 100
# Bumped whenever the generated data changes shape: a database loaded by another version of
# this script is built again.
DATA_VERSION = 1
META = "bench_workspace_meta"

TEAMS = 20
AGENTS_PER_TEAM = 20
SAMPLED = 20  # agents whose pages are timed: the first agent of each team
TABS = ("overdue", "today", "upcoming", "done")
FULL = 60  # rows each measured tab is topped up to (a page shows 50)
FEW = 5  # rows in each tab of the "few" agent
RICH_PREVIOUS = 12  # earlier tasks of the rich task's customer

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 建华 晓东"
GIVEN += " 子涵 欣怡 浩然 梓萱 宇轩 雨桐 俊杰 嘉怡 志强 海燕 文静 佳琪 一鸣 思远 晨曦"
TITLES = ("购后满意度回访", "VIP 关怀回访", "复购提醒回访", "诊后回访", "续约跟进")
PRODUCTS = (
    "空气净化器",
    "扫地机器人",
    "电动牙刷",
    "护肤套装",
    "智能手表",
    "洗碗机",
    "洁牙",
    "专业版",
)
TOPICS = ("安装咨询", "退换货", "使用问题", "发票", "账号问题", "功能咨询")
NOTES = ("客户表示满意", "已解释物流延误原因", "客户希望下周再联系", "已安排上门安装", "")
SCRIPT = "您好，{{客户姓名}}，我是回访专员，想了解您对本次购买是否满意，有什么可以帮您？"


def log(message: str) -> None:
    print(f"[workspace] {message}", file=sys.stderr, flush=True)


# -- the database: create, check, build ------------------------------------------------------


def server_url(db_name: str) -> tuple[str, str]:
    """(URL of the bench database, URL of the server's maintenance database)."""
    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise SystemExit(f"bench/workspace.py needs PostgreSQL; DATABASE_URL is {parts.scheme}://")
    bench = urlunsplit((parts.scheme, parts.netloc, f"/{db_name}", parts.query, ""))
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))
    return bench, admin


def libpq(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))


def loaded_meta(url: str) -> dict[str, Any] | None:
    """What a finished load recorded, if the database holds one; None otherwise."""
    import psycopg

    try:
        conn = psycopg.connect(libpq(url), autocommit=True)
    except psycopg.OperationalError:
        return None
    with conn:
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [META]).fetchone()
        if not found or not found[0]:
            return None
        row = conn.execute(f"SELECT data FROM {META}").fetchone()  # noqa: S608
        if not row:
            return None
        meta = dict(row[0])
        from huifang.tasks.models import Task  # Django is set up, the database not touched

        counted = conn.execute(f"SELECT count(*) FROM {Task._meta.db_table}").fetchone()  # noqa: S608
        meta["tasks_in_table"] = counted[0] if counted else 0
        return meta


def recreate_database(admin_url: str, name: str) -> None:
    import psycopg

    if not name.startswith("huifang_bench"):
        raise SystemExit(f"refusing to drop {name!r}: --db-name must start with huifang_bench")
    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("SECRET_KEY", SECRET)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    os.environ.setdefault("HUIFANG_TESTING", "1")  # serve static files without collecting them
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import warnings

    import django

    # WhiteNoise warns that var/static/ does not exist: the files are served from the finders.
    warnings.filterwarnings("ignore", message="No directory at")
    django.setup()


class SecondaryIndexes:
    """Drop a table's indexes (but its primary key) before a bulk load and build them after:
    one sort per index instead of five million insertions into each."""

    def __init__(self, tables: list[str]) -> None:
        self.tables = tables
        self.saved: list[tuple[str, str, str]] = []

    def drop(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT t.relname, i.relname, pg_get_indexdef(i.oid), c.conname, "
                "pg_get_constraintdef(c.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = t.oid "
                "WHERE t.relname = ANY(%s) AND NOT x.indisprimary",
                [self.tables],
            )
            for table, index, indexdef, constraint, condef in cursor.fetchall():
                if constraint:
                    cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint}"')
                    self.saved.append(
                        (
                            table,
                            constraint,
                            f'ALTER TABLE {table} ADD CONSTRAINT "{constraint}" {condef}',
                        )
                    )
                else:
                    cursor.execute(f'DROP INDEX "{index}"')
                    self.saved.append((table, index, indexdef))

    def build(self) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            for table, name, ddl in self.saved:
                started = time.perf_counter()
                cursor.execute(ddl)
                log(f"  index {table}.{name}: {time.perf_counter() - started:.1f} s")
        self.saved = []


def today_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Today in the site's zone, as the views see it: [start, end)."""
    from django.utils import timezone

    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def load(customers: int, tasks: int, events: int) -> tuple[dict[str, float], int]:
    from django.db import connection
    from django.utils import timezone

    from huifang.customers.models import Customer, Event, Tag
    from huifang.tasks.models import Task, TaskEvent

    timings: dict[str, float] = {}

    def step(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 1)
        log(f"{name}: {timings[name]} s")

    started = time.perf_counter()
    staff = make_staff()
    rules = make_rules()
    tags = [Tag.objects.get_or_create(name=n)[0].pk for n in TAG_NAMES]
    step("staff_s", started)

    tables = [
        Customer._meta.db_table,
        Customer.tags.through._meta.db_table,
        Event._meta.db_table,
        Task._meta.db_table,
    ]
    indexes = SecondaryIndexes(tables)
    with connection.cursor() as cursor:
        # A fresh database: no row can break a foreign key, so the per-row checks are skipped.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        cursor.execute("SELECT setseed(0.42)")
    indexes.drop()

    started = time.perf_counter()
    load_customers(customers, staff["agents"])
    load_customer_tags(customers, tags)
    step("customers_s", started)
    started = time.perf_counter()
    load_events(customers, events)
    step("events_s", started)
    started = time.perf_counter()
    now = timezone.now()
    extras = FEW * 4 + RICH_PREVIOUS  # rows added one by one below, so the total is ``tasks``
    load_tasks(max(0, tasks - extras), customers, staff, rules, now)
    step("tasks_s", started)

    started = time.perf_counter()
    indexes.build()
    step("indexes_s", started)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"coalesce(max(id), 1)) FROM {table}"
            )
        cursor.execute("ANALYZE")  # plans for the queries below
    rich = add_few_and_rich(staff, rules, now)
    load_task_events(staff, rich)
    with connection.cursor() as cursor:
        cursor.execute("RESET session_replication_role")
    step("extras_s", started)

    started = time.perf_counter()
    with connection.cursor() as cursor:
        # VACUUM too, as autovacuum would have by now: the visibility map makes the tab
        # counts index-only scans.
        cursor.execute("VACUUM ANALYZE")
    step("analyze_s", started)
    assert Task.objects.count() == tasks or tasks < extras, (Task.objects.count(), tasks)
    assert TaskEvent.objects.exists()
    return timings, rich


TAG_NAMES = ("老客户", "高价值", "价格敏感", "投诉过", "会员", "企业客户", "新客", "复购")


def make_staff() -> dict[str, Any]:
    """20 teams, each with a supervisor and 20 agents; plus ``bench-few``, an agent with a
    handful of tasks. Through the ORM: a few hundred rows."""
    from django.contrib.auth import get_user_model

    from huifang.accounts.models import StaffProfile, Team
    from huifang.accounts.roles import ensure_role_groups

    User = get_user_model()
    groups = ensure_role_groups()
    teams = Team.objects.bulk_create(
        Team(key=f"bench-team-{t:02d}", name=f"回访{t:02d}组", description="bench")
        for t in range(1, TEAMS + 1)
    )
    supervisors = User.objects.bulk_create(
        User(username=f"bench-sup-{t:02d}", password="!", is_active=True)  # noqa: S106
        for t in range(1, TEAMS + 1)
    )
    for team, sup in zip(teams, supervisors, strict=True):
        team.supervisor = sup
    Team.objects.bulk_update(teams, ["supervisor"])
    names = [s + g for g in GIVEN.split() for s in SURNAMES]
    agents = User.objects.bulk_create(
        User(username=f"bench-agent-{n:03d}", password="!", is_active=True)  # noqa: S106
        for n in range(TEAMS * AGENTS_PER_TEAM)
    )
    few = User.objects.create(username="bench-few", password="!", is_active=True)  # noqa: S106
    agent_team = [teams[n // AGENTS_PER_TEAM] for n in range(len(agents))]
    StaffProfile.objects.bulk_create(
        [
            StaffProfile(user=sup, display_name=names[(7 * i) % len(names)], team=team)
            for i, (sup, team) in enumerate(zip(supervisors, teams, strict=True))
        ]
        + [
            StaffProfile(
                user=agent,
                display_name=names[(13 * n + 5) % len(names)],
                team=agent_team[n],
                supervisor=agent_team[n].supervisor,
            )
            for n, agent in enumerate(agents)
        ]
        + [StaffProfile(user=few, display_name="新同事", team=teams[0])]
    )
    through = User.groups.through
    through.objects.bulk_create(
        [through(user_id=u.pk, group_id=groups["agent"].pk) for u in [*agents, few]]
        + [through(user_id=u.pk, group_id=groups["supervisor"].pk) for u in supervisors]
    )
    return {
        "agents": [a.pk for a in agents],
        "agent_teams": [t.pk for t in agent_team],
        "teams": [t.pk for t in teams],
        "few": few.pk,
        "few_team": teams[0].pk,
    }


def make_rules() -> list[int]:
    from huifang.rules.models import Rule

    return [
        Rule.objects.get_or_create(key=f"bench-{key}", defaults={"name": name})[0].pk
        for key, name in (
            ("after-purchase", "购后回访"),
            ("vip-care", "VIP 关怀"),
            ("renewal", "续约跟进"),
        )
    ]


def _regions() -> tuple[list[str], list[str]]:
    """Province and city arrays, each region repeated by its weight."""
    from huifang.demo.data import REGIONS

    provinces, cities = [], []
    for province, names, weight in REGIONS:
        for k in range(weight * 2):
            provinces.append(province)
            cities.append(names[k % len(names)])
    return provinces, cities


def load_customers(count: int, agents: list[int]) -> None:
    from huifang.customers.models import Customer

    provinces, cities = _regions()
    # Literal arrays, so the expressions hold no placeholders (see insert_select).
    arr = _array
    given = {
        "id": "i",
        "created_at": "now() - r1 * interval '1095 days'",
        "updated_at": "now() - r1 * interval '30 days'",
        "external_id": "'C' || lpad(i::text, 9, '0')",
        "name": f"{arr(list(SURNAMES))}[1 + mod(i * 7, {len(SURNAMES)})] || "
        f"{arr(GIVEN.split())}[1 + mod(i / {len(SURNAMES)}, {len(GIVEN.split())})]",
        "phone": "'+86' || (13800000000 + i)::text",
        "email": "CASE WHEN mod(i, 3) = 0 THEN 'c' || i || '@example.com' ELSE '' END",
        "wecom_external_userid": "''",
        "gender": "CASE WHEN r2 < 0.5 THEN 'f' ELSE 'm' END",
        "birthday": "CASE WHEN mod(i, 4) = 0 THEN date '1970-01-01' + (r3 * 12000)::int END",
        "company": "''",
        "province": f"{arr(provinces)}[1 + mod(i * 31, {len(provinces)})]",
        "city": f"{arr(cities)}[1 + mod(i * 31, {len(cities)})]",
        "source": f"{arr(['天猫', '京东', '抖音', '门店', '转介绍'])}[1 + mod(i, 5)]",
        "owner_id": f"CASE WHEN mod(i, 2) = 0 THEN {arr(agents, 'int')}[1 + mod(i / 2, "
        f"{len(agents)})] END",
        "business_line": "'零售电商'",
        "tier": "CASE WHEN r4 < 0.05 THEN 'vip' WHEN r4 < 0.55 THEN 'regular' "
        "WHEN r4 < 0.85 THEN 'potential' ELSE 'dormant' END",
        "lifecycle_stage": "CASE WHEN r4 < 0.55 THEN 'post_purchase' WHEN r4 < 0.85 "
        "THEN 'inquiry' ELSE 'dormant' END",
        "time_zone": "'Asia/Shanghai'",
        "preferred_channel": "CASE WHEN mod(i, 3) = 0 THEN 'email' ELSE 'sms' END",
        "language": "'zh-hans'",
        "do_not_contact": "mod(i, 50) = 0",
        "do_not_contact_at": "CASE WHEN mod(i, 50) = 0 THEN now() - r1 * interval '300 days' END",
        "do_not_contact_reason": "CASE WHEN mod(i, 50) = 0 THEN '客户要求' ELSE '' END",
        "attributes": "'{}'::jsonb",
        "first_purchase_at": "CASE WHEN r4 < 0.85 THEN now() - r3 * interval '1000 days' END",
        "last_purchase_at": "CASE WHEN r4 < 0.85 THEN now() - r3 * r2 * interval '540 days' END",
        "order_count": "CASE WHEN r4 < 0.85 THEN 1 + (r2 * 8)::int ELSE 0 END",
        "total_spend": "CASE WHEN r4 < 0.85 THEN round((1 + r2 * 8) * (199 + r3 * 2800))::numeric "
        "ELSE 0 END",
        "spend_12m": "CASE WHEN r4 < 0.85 THEN round(r2 * (199 + r3 * 2800))::numeric ELSE 0 END",
        "last_contact_at": "now() - r2 * interval '200 days'",
        "last_reply_at": "CASE WHEN mod(i, 4) = 1 THEN now() - r2 * interval '300 days' END",
        "last_satisfaction": "CASE WHEN mod(i, 5) = 0 THEN 1 + (r1 * 4.99)::int END",
        "complaint_count": "CASE WHEN mod(i, 40) = 0 THEN 1 ELSE 0 END",
    }
    inserted = insert_select(
        Customer,
        given,
        "FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4 "
        "FROM generate_series(1, %s) AS i) AS s",
        [count],
    )
    log(f"  {inserted:,} customers")


def _array(values: list[Any], kind: str = "text") -> str:
    if kind == "int":
        return f"('{{{','.join(str(int(v)) for v in values)}}}'::int[])"
    quoted = ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "('{" + quoted.replace("'", "''") + "}'::text[])"


def load_customer_tags(customers: int, tags: list[int]) -> None:
    from django.db import connection

    from huifang.customers.models import Customer

    table = Customer.tags.through._meta.db_table
    with connection.cursor() as cursor:
        # Two customers in five have a tag, one in ten a second one.
        cursor.execute(
            f"INSERT INTO {table} (customer_id, tag_id) "  # noqa: S608
            f"SELECT i, {_array(tags, 'int')}[1 + mod(i * 7, {len(tags)})] "
            "FROM generate_series(1, %s) AS i WHERE mod(i, 5) < 2 "
            f"UNION ALL SELECT i, {_array(tags, 'int')}[1 + mod(i * 7 + 3, {len(tags)})] "
            "FROM generate_series(1, %s) AS i WHERE mod(i, 10) = 0",
            [customers, customers],
        )


def load_events(customers: int, count: int) -> None:
    """Two thirds purchases, then tickets and complaints, survey answers, replies, page views;
    over the past 18 months, on random customers."""
    from huifang.customers.models import Event

    arr = _array
    kind = (
        "CASE WHEN k < 67 THEN 'purchase' WHEN k < 72 THEN 'ticket_closed' "
        "WHEN k < 74 THEN 'ticket_opened' WHEN k < 75 THEN 'complaint' "
        "WHEN k < 85 THEN 'survey_answered' WHEN k < 92 THEN 'message_replied' "
        "ELSE 'page_view' END"
    )
    amount = "(99 + (r2 * 390)::int * 10)"
    given = {
        "customer_id": "c",
        "type": kind,
        "occurred_at": "now() - r1 * interval '540 days'",
        "received_at": "now() - r1 * interval '540 days' + interval '2 seconds'",
        "properties": (
            "CASE WHEN k < 67 THEN jsonb_build_object('order_id', 'SO' || lpad(i::text, 10, '0'), "
            f"'amount', {amount}, 'product', {arr(list(PRODUCTS))}[1 + mod(i, {len(PRODUCTS)})], "
            "'category', '家电', 'quantity', 1) "
            "WHEN k < 75 THEN jsonb_build_object('ticket_id', 'T' || i, "
            f"'topic', {arr(list(TOPICS))}[1 + mod(i, {len(TOPICS)})]) "
            "WHEN k < 85 THEN jsonb_build_object('survey', '购后满意度', 'score', 1 + mod(i, 5)) "
            "WHEN k < 92 THEN jsonb_build_object('channel', 'sms', 'text', '收到，谢谢') "
            "ELSE jsonb_build_object('url', '/item/' || mod(i, 9999)) END"
        ),
        "source": "'api'",
        "amount": f"CASE WHEN k < 67 THEN {amount}::numeric END",
        "score": "CASE WHEN k >= 75 AND k < 85 THEN 1 + mod(i, 5) END",
    }
    inserted = insert_select(
        Event,
        given,
        "FROM (SELECT i, mod(i * 37, 100) AS k, 1 + floor(random() * %s)::bigint AS c, "
        "random() AS r1, random() AS r2 FROM generate_series(1, %s) AS i) AS s",
        [customers, count],
    )
    log(f"  {inserted:,} events")


def task_columns(now: datetime) -> dict[str, str]:
    """Each task's columns from its row's random numbers ``r1`` … ``r6`` and its number ``i``:

    - r1: the status: < 0.78 done, < 0.80 cancelled, < 0.85 in progress, else open;
    - r2: when: done in the past two years (1 % today), open due in the past 20 days (30 %),
      later today (10 %) or in the next 30 days (60 %);
    - r3: priority and tags; r4: the outcome; r5: in an agent's queue or the team's, attempts.
    """

    start, end = today_bounds(now)
    # Literal timestamps: insert_select takes no placeholders in expressions.
    now_sql, start_sql, end_sql = (f"'{v.isoformat()}'::timestamptz" for v in (now, start, end))
    closed = (
        f"CASE WHEN r2 < 0.01 THEN {start_sql} + (r2 / 0.01) * ({now_sql} - {start_sql}) "
        f"ELSE {now_sql} - ((r2 - 0.01) / 0.99) * interval '730 days' END"
    )
    due_open = (
        f"CASE WHEN r2 < 0.3 THEN {now_sql} - interval '1 minute' "
        "- (r2 / 0.3) * interval '20 days' "
        f"WHEN r2 < 0.4 THEN {now_sql} + ((r2 - 0.3) / 0.1) * ({end_sql} - {now_sql}) "
        f"ELSE {end_sql} + ((r2 - 0.4) / 0.6) * interval '30 days' END"
    )
    is_open = "r1 >= 0.8"
    created = (
        f"CASE WHEN {is_open} THEN least({now_sql} - (1 + r5 * 600) * interval '1 minute', "
        f"{due_open} - interval '3 days') "
        f"ELSE {closed} - interval '10 minutes' - r5 * interval '3 days' END"
    )
    assigned = "(r1 < 0.8 OR r5 < 0.2)"
    overdue = f"({is_open} AND r2 < 0.3)"
    return {
        "customer_id": "c",
        "rule_id": "CASE WHEN mod(i, 10) < 9 THEN rule END",
        "step": "CASE WHEN mod(i, 10) < 9 THEN 'call' ELSE '' END",
        "kind": "CASE WHEN mod(i, 100) < 90 THEN 'follow_up' WHEN mod(i, 100) < 97 "
        "THEN 'remediation' ELSE 'revisit' END",
        "team_id": "team",
        "title": f"CASE WHEN mod(i, 100) < 90 THEN {_array(list(TITLES))}[1 + mod(i, "
        f"{len(TITLES)})] WHEN mod(i, 100) < 97 THEN '投诉处理：回电致歉' ELSE '整改后复访' END",
        "script": f"CASE WHEN mod(i, 10) < 9 THEN '{SCRIPT}' ELSE '' END",
        "priority": "CASE WHEN r3 < 0.1 THEN 'low' WHEN r3 < 0.7 THEN 'normal' "
        "WHEN r3 < 0.95 THEN 'high' ELSE 'urgent' END",
        "status": "CASE WHEN r1 < 0.78 THEN 'done' WHEN r1 < 0.8 THEN 'cancelled' "
        "WHEN r1 < 0.85 AND r5 < 0.2 THEN 'in_progress' ELSE 'open' END",
        "due_at": f"CASE WHEN {is_open} THEN {due_open} ELSE {created} + interval '3 days' END",
        "assignee_id": f"CASE WHEN {assigned} THEN agent END",
        "assign_strategy": f"CASE WHEN {assigned} THEN 'least_loaded' ELSE '' END",
        "assigned_at": f"CASE WHEN {assigned} THEN {created} + interval '5 minutes' END",
        "started_at": f"CASE WHEN r1 < 0.78 OR (r1 >= 0.8 AND r1 < 0.85 AND r5 < 0.2) "
        f"THEN {created} + interval '6 minutes' END",
        "closed_at": f"CASE WHEN r1 < 0.8 THEN {closed} END",
        "overdue_at": f"CASE WHEN {overdue} THEN {due_open} END",
        "escalated_at": f"CASE WHEN {overdue} AND r3 < 0.3 THEN least({now_sql}, {due_open} "
        "+ interval '1 day') END",
        "escalation_level": f"CASE WHEN {overdue} AND r3 < 0.3 THEN 1 ELSE 0 END",
        "outcome": "CASE WHEN r1 >= 0.78 THEN '' WHEN r4 < 0.7 THEN 'reached' "
        "WHEN r4 < 0.82 THEN 'not_reached' WHEN r4 < 0.88 THEN 'call_back' "
        "WHEN r4 < 0.92 THEN 'refused' ELSE 'wrong_number' END",
        "score": "CASE WHEN r1 < 0.78 AND r4 < 0.7 AND r3 < 0.5 THEN 1 + (r3 * 9.99)::int END",
        "notes": f"CASE WHEN r1 < 0.78 AND mod(i, 10) = 0 THEN "
        f"{_array(list(NOTES))}[1 + mod(i / 10, {len(NOTES)})] ELSE '' END",
        "tags": "CASE WHEN r3 < 0.1 THEN '[\"VIP\"]'::jsonb WHEN r3 < 0.15 "
        "THEN '[\"复购\", \"价格敏感\"]'::jsonb ELSE '[]'::jsonb END",
        "attempts": "CASE WHEN r1 < 0.78 THEN 1 + (r5 * 2.99)::int WHEN r1 < 0.85 AND r5 < 0.2 "
        "THEN 1 ELSE 0 END",
        "created_at": created,
        "updated_at": f"coalesce(CASE WHEN r1 < 0.8 THEN {closed} END, {created})",
    }


def load_tasks(
    count: int, customers: int, staff: dict[str, Any], rules: list[int], now: datetime
) -> None:
    from huifang.tasks.models import Task

    agents, teams = staff["agents"], staff["agent_teams"]
    n = len(agents)
    source = (
        "FROM (SELECT i, 1 + floor(random() * %s)::bigint AS c, "  # noqa: S608
        f"{_array(agents, 'int')}[1 + mod(i, {n})] AS agent, "
        f"{_array(teams, 'int')}[1 + mod(i, {n})] AS team, "
        f"{_array(rules, 'int')}[1 + mod(i / 7, {len(rules)})] AS rule, "
        "random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5 "
        "FROM generate_series(1, %s) AS i) AS s"
    )
    # Two halves side by side: one core each.
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections

    half = count // 2
    bounds = [(1, half), (half + 1, count)]

    def part(lo_hi: tuple[int, int]) -> int:
        lo, hi = lo_hi
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = replica")
                cursor.execute("SET synchronous_commit = off")
                cursor.execute("SELECT setseed(%s)", [0.1 + lo / (count + 1) / 2])
            return insert_select(
                Task,
                task_columns(now),
                source.replace("generate_series(1, %s)", "generate_series(%s, %s)"),
                [customers, lo, hi],
            )
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        inserted = sum(pool.map(part, [b for b in bounds if b[0] <= b[1]]))
    log(f"  {inserted:,} tasks")


def add_few_and_rich(staff: dict[str, Any], rules: list[int], now: datetime) -> int:
    """The ``bench-few`` agent's 20 tasks, on customers with no history at all; and the rich
    task: an overdue task of the first agent whose customer has a long history."""
    from django.db import connection

    from huifang.customers.models import Customer, Event, Tag
    from huifang.tasks.models import Task

    customers, events = Customer._meta.db_table, Event._meta.db_table
    tasks, tagged = Task._meta.db_table, Customer.tags.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id FROM {customers} c WHERE NOT EXISTS (SELECT 1 FROM "  # noqa: S608
            f"{events} e WHERE e.customer_id = c.id) AND NOT EXISTS (SELECT 1 FROM "
            f"{tasks} t WHERE t.customer_id = c.id) AND NOT EXISTS (SELECT 1 FROM "
            f"{tagged} g WHERE g.customer_id = c.id) ORDER BY c.id LIMIT %s",
            [FEW * 4 + 1],
        )
        bare = [row[0] for row in cursor.fetchall()]
    if len(bare) < FEW * 4 + 1:  # a tiny database: take any customers
        bare = list(Customer.objects.order_by("-pk").values_list("pk", flat=True)[: FEW * 4 + 1])
    Customer.objects.filter(pk__in=bare).update(owner=None)
    Task.objects.bulk_create(
        Task(
            customer_id=bare[k],
            team_id=staff["few_team"],
            title=TITLES[k % len(TITLES)],
            status=Task.Status.DONE if k >= FEW * 3 else Task.Status.OPEN,
            outcome="reached" if k >= FEW * 3 else "",
            assignee_id=staff["few"],
            assigned_at=now - timedelta(days=1),
            created_at=now - timedelta(days=1),
            due_at=now,
            closed_at=now if k >= FEW * 3 else None,
        )
        for k in range(FEW * 4)
    )
    # The rich task: the first agent's oldest overdue task.
    agent = staff["agents"][0]
    rich = (
        Task.objects.filter(assignee_id=agent, status__in=["open", "in_progress"], due_at__lt=now)
        .order_by("due_at")
        .first()
    )
    assert rich is not None, "the first agent has no overdue task"
    customer = rich.customer_id
    # The bare tasks come from the same rule, so the two pages differ only in their rows (the
    # rule's part of "why this task" costs the same on both).
    Task.objects.filter(assignee_id=staff["few"]).update(rule_id=rich.rule_id)
    Customer.objects.filter(pk=customer).update(owner_id=staff["agents"][1])
    through = Customer.tags.through
    through.objects.bulk_create(
        through(customer_id=customer, tag_id=tag)
        for tag in Tag.objects.exclude(customers__id=customer).values_list("pk", flat=True)[:3]
    )
    events = []
    for k in range(30):
        events.append(
            Event(
                customer_id=customer,
                type="purchase",
                occurred_at=now - timedelta(days=10 * k + 1),
                properties={"order_id": f"SO-RICH-{k}", "amount": 399, "product": PRODUCTS[k % 8]},
                amount=399,
            )
        )
    for k in range(25):
        kind = ("ticket_opened", "ticket_closed", "complaint")[k % 3]
        events.append(
            Event(
                customer_id=customer,
                type=kind,
                occurred_at=now - timedelta(days=7 * k + 2),
                properties={"ticket_id": f"T-RICH-{k // 2}", "subject": TOPICS[k % 6]},
            )
        )
    for k in range(8):
        events.append(
            Event(
                customer_id=customer,
                type="survey_answered",
                occurred_at=now - timedelta(days=20 * k + 3),
                properties={"survey": "购后满意度", "score": 1 + k % 5},
                score=1 + k % 5,
            )
        )
    Event.objects.bulk_create(events)
    Task.objects.bulk_create(
        Task(
            customer_id=customer,
            team_id=staff["agent_teams"][k + 2],
            rule_id=rules[k % len(rules)],
            title=TITLES[k % len(TITLES)],
            status=Task.Status.DONE,
            outcome="reached",
            score=1 + k % 5,
            notes=NOTES[k % len(NOTES)],
            assignee_id=staff["agents"][k + 2],
            created_at=now - timedelta(days=30 * k + 5),
            assigned_at=now - timedelta(days=30 * k + 5),
            closed_at=now - timedelta(days=30 * k + 4),
            due_at=now - timedelta(days=30 * k + 2),
        )
        for k in range(RICH_PREVIOUS)
    )
    return rich.pk


def sampled_agents(staff_agents: list[int]) -> list[int]:
    return staff_agents[::AGENTS_PER_TEAM][:SAMPLED]


def load_task_events(staff: dict[str, Any], rich_pk: int) -> None:
    """History lines for every task of the measured agents (created, assigned, the outcome),
    and 40 for the rich task, from several people."""
    from django.db import connection

    from huifang.tasks.models import Task, TaskEvent

    measured = [*sampled_agents(staff["agents"]), staff["few"]]
    tasks = Task._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TaskEvent._meta.db_table} (task_id, kind, at, actor_id, data) "  # noqa: S608
            f"SELECT id, 'created', created_at, NULL::int, '{{}}'::jsonb FROM {tasks} "
            "WHERE assignee_id = ANY(%s) "
            "UNION ALL SELECT id, 'assigned', assigned_at, NULL, "
            f"jsonb_build_object('to', assignee_id, 'strategy', 'least_loaded') FROM {tasks} "
            "WHERE assignee_id = ANY(%s) "
            "UNION ALL SELECT id, 'outcome', closed_at, assignee_id, "
            f"jsonb_build_object('outcome', outcome, 'score', score) FROM {tasks} "
            "WHERE assignee_id = ANY(%s) AND status = 'done'",
            [measured, measured, measured],
        )
    rich = Task.objects.get(pk=rich_pk)
    kinds = ("reminded", "reassigned", "rescheduled", "overdue", "escalated")
    TaskEvent.objects.bulk_create(
        TaskEvent(
            task_id=rich.pk,
            kind=kinds[k % len(kinds)],
            at=rich.created_at + timedelta(hours=k + 1),
            actor_id=staff["agents"][k % 7],
            data={"reason": "客户要求换人"} if k % 5 == 1 else {"note": f"第 {k} 次"},
        )
        for k in range(40)
    )
    assert Task.objects.filter(assignee_id=staff["few"]).count() == FEW * 4


def write_meta(data: dict[str, Any]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {META} (data jsonb NOT NULL)")
        cursor.execute(f"DELETE FROM {META}")  # noqa: S608
        cursor.execute(f"INSERT INTO {META} (data) VALUES (%s::jsonb)", [json.dumps(data)])  # noqa: S608


# -- each run: bring the measured agents' "today" up to date -----------------------------------


def staff_ids() -> dict[str, Any]:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    agents = list(
        User.objects.filter(username__startswith="bench-agent-")
        .order_by("username")
        .values_list("pk", flat=True)
    )
    few = User.objects.get(username="bench-few").pk
    return {"agents": agents, "few": few}


def freshen(agents: list[int], few: int) -> None:
    """Every measured agent has at least FULL tasks in each tab: tasks from the team's queue
    (due earlier, later, or moved into today) and their own tasks done earlier, moved into
    today; a no-op on a full-size database loaded today but for "done today". The ``few`` agent
    has exactly FEW in each tab."""
    from django.db import connection
    from django.db.models import Q
    from django.utils import timezone

    from huifang.accounts.models import StaffProfile
    from huifang.tasks.models import Task

    now = timezone.now()
    start, end = today_bounds(now)
    left = end - now
    if left < timedelta(minutes=5):
        log(f"warning: {left} left of today: the 'today' tab will empty while measuring")
    open_ = Q(status__in=["open", "in_progress"])
    teams = dict(StaffProfile.objects.filter(user_id__in=agents).values_list("user_id", "team_id"))
    table = Task._meta.db_table
    buckets = {
        "overdue": Q(due_at__lt=now),
        "today": Q(due_at__gte=now, due_at__lt=end),
        "upcoming": Q(due_at__gte=end),
    }
    with connection.cursor() as cursor:
        for agent in agents:
            mine = Task.objects.filter(assignee_id=agent)
            queue = Task.objects.filter(team_id=teams[agent], assignee__isnull=True, status="open")
            for bucket, where in buckets.items():
                need = FULL - mine.filter(open_, where).count()
                if need <= 0:
                    continue
                source = buckets["upcoming"] if bucket == "today" else where
                pks = list(
                    queue.filter(source).order_by("due_at").values_list("pk", flat=True)[:need]
                )
                cursor.execute(
                    f"UPDATE {table} SET assignee_id = %s, assign_strategy = 'least_loaded', "  # noqa: S608
                    "assigned_at = created_at + interval '5 minutes' WHERE id = ANY(%s)",
                    [agent, pks],
                )
                if bucket == "today":
                    cursor.execute(
                        f"UPDATE {table} SET due_at = %s + %s * (0.5 + 0.5 * random()) "  # noqa: S608
                        "WHERE id = ANY(%s)",
                        [now, left, pks],  # type: ignore[list-item]
                    )
            need = FULL - mine.filter(status="done", closed_at__gte=start).count()
            if need > 0:
                pks = list(
                    mine.filter(status="done", closed_at__lt=start)
                    .order_by("-closed_at")
                    .values_list("pk", flat=True)[:need]
                )
                cursor.execute(
                    f"UPDATE {table} SET closed_at = %s + %s * random() WHERE id = ANY(%s)",  # noqa: S608
                    [start, now - start, pks],  # type: ignore[list-item]
                )
    tasks = list(Task.objects.filter(assignee_id=few).order_by("pk"))
    assert len(tasks) == FEW * 4, f"bench-few has {len(tasks)} tasks, not {FEW * 4}: --rebuild"
    for k, task in enumerate(tasks):
        tab, n = divmod(k, FEW)
        fraction = (n + 1) / (FEW + 1)
        if tab == 0:  # overdue
            task.due_at, task.closed_at, task.status = now - timedelta(days=n + 1), None, "open"
        elif tab == 1:  # today
            task.due_at, task.closed_at, task.status = now + left * fraction, None, "open"
        elif tab == 2:  # upcoming
            task.due_at, task.closed_at, task.status = end + timedelta(days=n), None, "open"
        else:  # done today
            task.due_at = start
            task.closed_at, task.status = start + (now - start) * fraction, "done"
    Task.objects.bulk_update(tasks, ["due_at", "closed_at", "status"])


# -- measuring ---------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rows_shown(content: bytes) -> int:
    return content.count(b"data-task=")


def items(content: str, marker: str) -> int | None:
    """How many list items the ``<ul>`` marked ``marker`` shows (None: no such list)."""
    if marker not in content:
        return None
    return content.split(marker, 1)[1].split("</ul>", 1)[0].count("<li")


def get(client: Any, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response


def count_queries(client: Any, url: str) -> tuple[int, int, list[tuple[float, str]]]:
    """(queries, rows shown, [(ms, sql)]) of one request, not timed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = get(client, url)
    queries = [(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries]
    return len(queries), rows_shown(response.content), queries


def measure(runs: int, explain: bool, rich_pk: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from huifang.tasks.models import Task

    load_before = os.getloadavg()[0]  # other work on the machine shows in the figures
    User = get_user_model()
    ids = staff_ids()
    agents = sampled_agents(ids["agents"])
    freshen(agents, ids["few"])
    mine = reverse("tasks:mine")

    def detail(pk: int) -> str:
        return reverse("tasks:detail", args=[pk])

    clients: dict[int, Any] = {}
    for pk in [*agents, ids["few"]]:
        clients[pk] = Client()
        clients[pk].force_login(User.objects.get(pk=pk))

    # Which URLs each agent opens: the list (no tab, each tab, page 2 of "upcoming") and five
    # of their tasks.
    now = timezone.now()
    start, end = today_bounds(now)
    open_ = ["open", "in_progress"]
    plan: dict[int, dict[str, str]] = {}
    task_urls: dict[int, list[str]] = {}
    for agent in agents:
        client = clients[agent]
        urls = {"default": mine, **{tab: f"{mine}?tab={tab}" for tab in TABS}}
        upcoming = get(client, urls["upcoming"]).content.decode()
        cursor = re.search(r'href="\?tab=upcoming&(?:amp;)?after=([^"&]+)"', upcoming)
        if cursor:
            urls["upcoming_page_2"] = f"{mine}?tab=upcoming&after={cursor.group(1)}"
        plan[agent] = urls
        theirs = Task.objects.filter(assignee_id=agent)
        picks = [
            theirs.filter(status__in=open_, due_at__lt=now).order_by("due_at").first(),
            theirs.filter(status__in=open_, due_at__gte=now, due_at__lt=end).first(),
            theirs.filter(status__in=open_, due_at__gte=end).order_by("due_at").first(),
            theirs.filter(status="done", closed_at__gte=start).first(),
            theirs.filter(status="done", closed_at__lt=start).order_by("closed_at").first(),
        ]
        task_urls[agent] = [detail(t.pk) for t in picks if t is not None]

    # Warm-up: every URL once, not counted.
    for agent in agents:
        for url in [*plan[agent].values(), *task_urls[agent]]:
            get(clients[agent], url)

    per_run: list[dict[str, list[float]]] = []
    for run in range(runs):
        samples: dict[str, list[float]] = {}
        for agent in agents:
            client = clients[agent]
            for key, url in plan[agent].items():
                started = time.perf_counter()
                get(client, url)
                samples.setdefault(key, []).append((time.perf_counter() - started) * 1000)
            for url in task_urls[agent]:
                started = time.perf_counter()
                get(client, url)
                samples.setdefault("task_page", []).append((time.perf_counter() - started) * 1000)
        per_run.append(samples)
        mine_all = [x for key, xs in samples.items() if key != "task_page" for x in xs]
        log(
            f"run {run + 1}: my follow-ups p50 {percentile(mine_all, 0.5):.1f} ms, "
            f"p95 {percentile(mine_all, 0.95):.1f} ms; task page p50 "
            f"{percentile(samples['task_page'], 0.5):.1f} ms, "
            f"p95 {percentile(samples['task_page'], 0.95):.1f} ms"
        )

    def summary(keys: list[str]) -> dict[str, Any]:
        p50s, p95s = [], []
        for samples in per_run:
            values = [x for key in keys for x in samples.get(key, [])]
            p50s.append(percentile(values, 0.5))
            p95s.append(percentile(values, 0.95))
        return {
            "p50_ms": round(statistics.median(p50s), 1),
            "p95_ms": round(statistics.median(p95s), 1),
            "runs_p95_ms": [round(x, 1) for x in p95s],
            "requests_per_run": sum(len(per_run[0].get(key, [])) for key in keys),
        }

    list_keys = [k for k in per_run[0] if k != "task_page"]

    # Query counts, on requests of their own: the "few" agent (5 rows a tab) against the first
    # measured agent (a full page of 50), and a bare task against the rich one.
    slowest: list[tuple[float, str, str]] = []
    many = agents[0]
    freshen([many], ids["few"])  # the clock has moved on while timing
    tab_queries: dict[str, dict[str, Any]] = {}
    for tab in TABS:
        url = f"{mine}?tab={tab}"
        few_n, few_rows, _q = count_queries(clients[ids["few"]], url)
        many_n, many_rows, queries = count_queries(clients[many], url)
        slowest += [(ms, f"my_followups?tab={tab}", sql) for ms, sql in queries]
        tab_queries[tab] = {
            "few_rows": few_n,
            "many_rows": many_n,
            "rows_shown": {"few": few_rows, "many": many_rows},
            "sql_ms_many_rows": round(sum(ms for ms, _sql in queries), 1),
        }
    few_task = (
        Task.objects.filter(assignee_id=ids["few"], status="open", due_at__lt=timezone.now())
        .order_by("pk")
        .first()
    )
    assert few_task is not None
    rich = Task.objects.get(pk=rich_pk)
    few_n, _rows, _q = count_queries(clients[ids["few"]], detail(few_task.pk))
    many_n, _rows, queries = count_queries(clients[many], detail(rich.pk))
    slowest += [(ms, "task_page", sql) for ms, sql in queries]
    rich_content = get(clients[many], detail(rich.pk)).content.decode()
    shown = {
        name: items(rich_content, marker)
        for name, marker in (
            ("orders", 'id="orders"'),
            ("previous_and_answers", 'id="previous"'),
            ("history", 'id="task-history"'),
        )
    }

    report_tabs = {tab: {**summary([tab]), "queries": tab_queries[tab]} for tab in TABS} | (
        {"upcoming_page_2": summary(["upcoming_page_2"])} if "upcoming_page_2" in list_keys else {}
    )
    today = tab_queries["today"]
    result = {
        "my_followups": {
            **summary(list_keys),
            "queries": {
                "few_rows": today["few_rows"],
                "many_rows": today["many_rows"],
                "rows_shown": today["rows_shown"],
                "sql_ms_many_rows": today["sql_ms_many_rows"],
                "constant": all(q["few_rows"] == q["many_rows"] for q in tab_queries.values()),
            },
        },
        "task_page": {
            **summary(["task_page"]),
            "queries": {
                "few_rows": few_n,
                "many_rows": many_n,
                "rich_task_shows": shown,
                "sql_ms_many_rows": round(sum(ms for ms, _sql in queries), 1),
                "constant": few_n == many_n,
            },
        },
        "per_tab": report_tabs,
        "measured_agents": len(agents),
        "load_average_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "slowest_queries": [
            {"ms": round(ms, 2), "page": page, "sql": short(sql)}
            for ms, page, sql in sorted(slowest, reverse=True)[:5]
        ],
    }
    if explain:
        explain_slowest(slowest)
    return result


def short(sql: str) -> str:
    """The statement without its column list, which is most of it and says little."""
    return re.sub(r"SELECT .*? FROM ", "SELECT … FROM ", sql, count=1)[:600]


def explain_slowest(slowest: list[tuple[float, str, str]]) -> None:
    from django.db import connection

    for ms, page, sql in sorted(slowest, reverse=True)[:3]:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        log(f"{page}: {ms:.2f} ms\n{sql}\n{plan}\n")


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=5_000_000)
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs (the median is reported)")
    parser.add_argument("--db-name", default="huifang_bench_workspace")
    parser.add_argument("--rebuild", action="store_true", help="build the database again")
    parser.add_argument(
        "--load-only", action="store_true", help="build the database if needed, do not measure"
    )
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE the slowest queries (on stderr)"
    )
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="PostgreSQL only")
    parser.add_argument("--smoke", action="store_true", help="a tiny throw-away database, for CI")
    args = parser.parse_args()
    if args.only == "sqlite" or (args.smoke and not postgres_answers()):
        if not args.smoke:
            raise SystemExit("bench/workspace.py runs on PostgreSQL only")
        log("PostgreSQL only, and no PostgreSQL to run on: skipped")
        print(json.dumps({"benchmark": "workspace", "smoke": True, "skipped": "PostgreSQL only"}))
        return
    if args.customers < 100 or args.tasks < 1000:
        raise SystemExit("use at least 100 customers and 1,000 tasks")
    if not args.smoke:
        benchmark(args)
        return
    global TEAMS, AGENTS_PER_TEAM
    TEAMS, AGENTS_PER_TEAM = 2, 7  # the rich task's history names 14 agents
    args.customers, args.tasks, args.events, args.runs = 1000, 10_000, 3000, 1
    args.db_name, args.rebuild = f"huifang_bench_{os.urandom(4).hex()}", False
    os.environ.pop("DATABASE_URL", None)  # the throw-away database is on 127.0.0.1
    os.environ.pop("REDIS_URL", None)
    create_postgres(args.db_name, os.environ.get(TEMPLATE_POSTGRES))
    try:
        report = benchmark(args)
    finally:
        from django.db import connections

        connections.close_all()
        drop_postgres(args.db_name)
    failed = [k for k in ("my_followups", "task_page") if not report[k]["queries"]["constant"]]
    if failed:
        raise SystemExit(f"the number of queries grows with the rows on: {', '.join(failed)}")


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    url, admin = server_url(args.db_name)
    setup_django(url)  # before loaded_meta, which names its table from the model
    wanted = {
        "version": DATA_VERSION,
        "customers": args.customers,
        "tasks": args.tasks,
        "events": args.events,
    }
    meta = None if args.rebuild else loaded_meta(url)
    fresh = (
        meta is None
        or any(meta.get(k) != v for k, v in wanted.items())
        or (meta.get("tasks_in_table") != args.tasks)
    )
    if fresh and not args.smoke:  # a smoke run's database is brand-new already
        log(f"building {args.db_name}: {args.customers:,} customers, {args.tasks:,} tasks")
        recreate_database(admin, args.db_name)
    from django.core.management import call_command

    if not (args.smoke and os.environ.get(TEMPLATE_POSTGRES)):  # else a migrated copy
        call_command("migrate", verbosity=0, interactive=False)
    if fresh:
        started = time.perf_counter()
        timings, rich = load(args.customers, args.tasks, args.events)
        load_s = round(time.perf_counter() - started, 1)
        meta = {
            **wanted,
            "load_s": load_s,
            "load_steps_s": timings,
            "loaded_at": time.time(),
            "rich_task": rich,
        }
        write_meta(meta)
        log(f"loaded in {load_s} s")
    assert meta is not None
    from django.db import connection

    from huifang.customers.models import Event

    report: dict[str, Any] = {
        "benchmark": "workspace",
        "database": connection.vendor,
        "db_name": args.db_name,
        "customers": args.customers,
        "tasks": args.tasks,
        "events": Event.objects.count(),
        "runs": args.runs,
        "smoke": args.smoke,
        "cpu_count": os.cpu_count(),
        "loaded_now": fresh,
        "load_s": meta.get("load_s"),
        "load_steps_s": meta.get("load_steps_s"),
    }
    if not args.load_only:
        measured = measure(args.runs, args.explain, meta["rich_task"])
        report.update(measured)
        report["target_p95_ms"] = TARGET_P95_MS
        report["ok"] = (
            measured["my_followups"]["p95_ms"] <= TARGET_P95_MS
            and measured["task_page"]["p95_ms"] <= TARGET_P95_MS
            and measured["my_followups"]["queries"]["constant"]
            and measured["task_page"]["queries"]["constant"]
        )
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return report


if __name__ == "__main__":
    main()
