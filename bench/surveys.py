#!/usr/bin/env python3
"""Benchmark questionnaires (issue 18): the answer page and a submission under 50 concurrent
respondents, on SQLite and PostgreSQL; the results page of 1,000,000 answers on PostgreSQL.

Sections (``--sections``, default all that the database allows):

- ``answer`` and ``submit``, on the database ``DATABASE_URL`` points at (a SQLite file or a
  PostgreSQL database): ``--customers`` customers (10,000) are loaded once through the ORM and
  the ready questionnaire ``--survey`` (``quarterly-nps``: an NPS that jumps to one of three
  paths) saved from the library. Each run gives ``--responses`` (500) respondents a personal
  link of their own (a fresh message id per run, so every run starts new responses), and
  ``--concurrency`` (50) threads — each with its own database connection and Django test
  client — work through them side by side: open the link (GET), post every screen, following
  each redirect to the next screen (GET) and finally to the thank-you page. ``answer`` is every
  GET of a question screen, ``submit`` the POST that submits; ``page_post`` (a POST that only
  moves on) and ``thanks`` are reported beside them. NPS scores cycle 0–10, so detractors
  (two screens), passives (one) and promoters (two) all occur. After each run every respondent
  must have exactly one submitted response, else the benchmark fails.
- ``results`` (PostgreSQL only; on SQLite it says why it is skipped): a kept database
  (``--db-name huifang_bench_surveys``, built again when ``DATA_VERSION`` changes or with
  ``--rebuild``) with one questionnaire (NPS, a single choice, a long text, a CSAT) in two
  versions and ``--answers`` (1,000,000) answers: a third as many responses, three answers
  each, over 365 days, 4 channels, 20 rules, 20 teams, customers in the demo's cities, and
  the sent messages that carried the links (``Message.survey_version``, ``sent_at``: about
  1.5 per response) for the response rate — written by set-based SQL (``INSERT … SELECT …
  generate_series``), the secondary indexes built afterwards, then ``VACUUM ANALYZE``. Then
  the server time of ``rules:survey_results`` for a few filter combinations (``FILTERS``: no
  filter, the last 30 days, one channel, one team), p50/p95 per run, and the number of SQL
  queries per page (counted on a request that is not timed; compare smoke and full size: a
  count that grows with the rows is an N+1). Until that page exists, the section says so
  and is skipped.

**Server time.** The respondents are threads of one Python process. Left to themselves, 50
threads would all be inside Django at once, each waiting for the GIL most of its wall time
(Python switches threads every 5 ms), so a request's time in the handler would mostly be time
queued behind 49 others — a queue a deployment does not have: there ``WEB_CONCURRENCY`` web
processes (2 by default) each handle one request at a time and the others wait in the
server's backlog. So the benchmark's outermost middleware (added here only) models that: a
request first waits for one of ``--workers`` (2) slots, untimed, and ``server_ms`` is then the
wall time (``time.perf_counter``) around the rest of Django's handler — the targets are on it.
The 50 respondents are still concurrent where it matters for the database: 50 connections,
50 responses in progress, a POST's row lock and SQLite's single writer (``BEGIN IMMEDIATE``,
30 s busy timeout, WAL) contended by whatever runs at the same moment. Beside it, so nobody
is misled: ``cpu_db_ms`` (the thread's CPU time outside database calls plus the wall time of
the database calls: ``server_ms`` without the GIL waits between the two slots), ``client_ms``
(wall time seen by the respondent, the wait for a slot included) and the throughput
(requests and submissions per second of the whole run). ``--workers 50`` shows the
free-for-all. After each request the thread calls ``close_old_connections`` as a WSGI server
does, so on SQLite (``CONN_MAX_AGE`` 0) every request opens its connection, as in production.

The answer page's rate limit (``core/throttle.py``) counts POSTs per response (60 per 10
minutes), not per client address, and each respondent posts to a link of its own a handful
of times: it is left on and never reached (a 429 would fail the run).

Targets: ``answer`` p95 ≤ 30 ms and ``submit`` p95 ≤ 50 ms under 50 concurrent respondents on
SQLite and PostgreSQL; ``results`` p95 ≤ 300 ms on PostgreSQL with 1,000,000 answers. Each
figure is the median over ``--runs`` (5) runs of that run's percentile.

    DATABASE_URL=… .venv/bin/python bench/surveys.py [--sections answer,submit,results]
        [--customers 10000] [--responses 500] [--concurrency 50] [--runs 5]
        [--answers 1000000] [--db-name huifang_bench_surveys] [--rebuild]

Without ``DATABASE_URL`` the answer sections run on var/huifang.db (migrated first). ``results``
runs when
``DATABASE_URL`` is PostgreSQL, on its server but in the database ``--db-name``.

``--smoke`` (for CI): on a throw-away database of each kind (``--only`` one), 200 customers,
100 respondents, one run; on PostgreSQL also ``results`` with 3,000 answers in the same
throw-away database. Exits non-zero when a page fails or a submission is not recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    from common import (
        SECRET,
        TEMPLATE_POSTGRES,
        databases,
        setup_django_for_pages,
        throwaway,
    )
except ImportError:  # imported as bench.surveys
    from bench.common import (
        SECRET,
        TEMPLATE_POSTGRES,
        databases,
        setup_django_for_pages,
        throwaway,
    )

SCRIPT = str(Path(__file__).resolve())
TARGETS_MS = {"answer": 30, "submit": 50, "results": 300}
# Bumped whenever the generated results data changes shape: that database is built again.
DATA_VERSION = 1
# Bumped when the daily rollups the results page reads change: they are rebuilt.
ROLLUPS_VERSION = 2
META = "bench_surveys_meta"
CUSTOMER_PREFIX = "BSV"  # external ids of the customers this benchmark loads
RESULTS_KEY = "bench-results"
RUN_MESSAGE_BASE = 10_000_000  # a run's message ids: a multiple of it + customer pk (no message)
CHANNELS = ("sms", "email", "wecom", "phone")
RULES = TEAMS = 20
# Query strings of the results page measured; the page is built in another branch — adjust
# these names to its filter parameters if they differ. ``{team}`` is a bench team's id.
# The page as it opens (the version being sent, the last 30 days), the filters a manager
# uses most, and the widest view there is: every version over a whole year (every answer).
FILTERS = {
    "default": "",
    "one_channel": "channel=sms",
    "one_team": "team={team}",
    "all_versions_90_days": "version=all&period=90d",
    "all_versions_year": "version=all&period=custom&from={year_ago}&to={today}",
}
SMOKE = {"customers": 200, "responses": 100, "answers": 3000}
RESULTS_DOC = """
key: bench-results
name: 季度 NPS 调查（基准）
questions:
  - id: nps
    type: nps
    title: 您有多大可能把我们推荐给朋友或同事？
    required: true
  - id: reason
    type: single_choice
    title: 您选择我们的主要原因是什么？
    options:
      - {value: quality, label: 产品质量}
      - {value: price, label: 价格}
      - {value: service, label: 服务}
      - {value: speed, label: 响应速度}
      - {value: other, label: 其他}
  - id: comment
    type: long_text
    title: 还有什么想对我们说的？
  - id: csat
    type: csat
    title: 您对最近一次服务满意吗？
    required: true
thank_you: 感谢您的反馈！
"""


def log(message: str) -> None:
    print(f"[surveys] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def p50_p95(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50_ms": percentile(values, 0.5), "p95_ms": percentile(values, 0.95)}


# -- server time, measured inside the request -------------------------------------------------

_spent = threading.local()


def count_database(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    """An ``execute_wrapper``: wall and CPU time of each database call of this thread."""
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        return execute(sql, params, many, context)
    finally:
        _spent.db_wall += time.perf_counter() - wall
        _spent.db_cpu += time.thread_time() - cpu
        _spent.queries += 1


class Slots:
    """``n`` request slots handed over first come, first served (a semaphore lets a thread
    that just released take the slot again, and starves some respondents for seconds)."""

    def __init__(self, n: int) -> None:
        self.free = n
        self.lock = threading.Lock()
        self.waiting: deque[threading.Lock] = deque()

    def __enter__(self) -> None:
        with self.lock:
            if self.free:
                self.free -= 1
                return
            turn = threading.Lock()
            turn.acquire()
            self.waiting.append(turn)
        turn.acquire()  # released by the request that hands its slot over

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            if self.waiting:
                self.waiting.popleft().release()
            else:
                self.free += 1


class ServerTime:
    """Outermost middleware, added by this benchmark only: waits for one of the ``--workers``
    request slots (untimed), then puts on the response ``bench`` = (server ms, CPU + database
    ms, queries); see the module's docstring."""

    slots = Slots(2)

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        with self.slots:
            _spent.db_wall = _spent.db_cpu = 0.0
            _spent.queries = 0
            wall, cpu = time.perf_counter(), time.thread_time()
            response = self.get_response(request)
            wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        cpu_db = (cpu - _spent.db_cpu) + _spent.db_wall
        response.bench = (wall * 1000, cpu_db * 1000, _spent.queries)
        return response


# -- answer and submit ------------------------------------------------------------------------


def load_customers(count: int) -> list[int]:
    """``count`` customers of this benchmark (made once, kept): their ids."""
    from huifang.customers.models import Customer

    mine = Customer.objects.filter(external_id__startswith=CUSTOMER_PREFIX)
    have = mine.count()
    if have < count:
        started = time.perf_counter()
        Customer.objects.bulk_create(
            (
                Customer(
                    external_id=f"{CUSTOMER_PREFIX}{n:08d}",
                    name=f"答卷客户{n}",
                    phone=f"+8615{n:09d}",
                    language="zh-hans",
                )
                for n in range(have, count)
            ),
            batch_size=2000,
        )
        log(f"{count - have:,} customers in {time.perf_counter() - started:.1f} s")
    return list(mine.order_by("pk").values_list("pk", flat=True)[:count])


def survey_version(key: str) -> Any:
    from huifang.surveys.services import library_documents, save_survey

    docs = {doc.key: doc for doc in library_documents()}
    if key not in docs:
        raise SystemExit(f"no ready questionnaire {key!r}: one of {', '.join(sorted(docs))}")
    saved = save_survey(docs[key], note="bench")
    return saved.version


def answer_for(question: Any, n: int) -> list[str]:
    """What respondent ``n`` posts for ``question``: the form's values."""
    scale = question.scale()
    if scale is not None:
        low, high = scale
        return [str(low + n % (high - low + 1))]
    options = [o.value for o in question.options or []]
    if question.type == "single_choice":
        return [options[n % len(options)]]
    if question.type == "multiple_choice":
        return options[n % len(options) :][:2] or options[:1]
    if question.type == "date":
        return ["2026-11-02"]
    return [f"服务很好，第 {n} 位客户的意见"]


def screen_data(doc: Any, first: str, n: int) -> dict[str, Any]:
    from huifang.surveys.answering import screen

    data: dict[str, Any] = {"q": first}
    for question in screen(doc, first):
        if question.type == "matrix":
            columns = [c.value for c in question.columns or []]
            for row in question.rows or []:
                data[f"{question.id}.{row.value}"] = columns[n % len(columns)]
        else:
            data[question.id] = answer_for(question, n)
    return data


class Respondent:
    """One thread's test client; records each request's figures by kind."""

    def __init__(self, samples: dict[str, list[tuple[float, float, float]]]) -> None:
        from django.test import Client

        self.client = Client()
        self.samples = samples
        self.queries: dict[str, int] = {}

    def request(self, kind: str, method: str, url: str, data: Any = None, status: int = 200) -> Any:
        from django.db import close_old_connections

        started = time.perf_counter()
        response = getattr(self.client, method)(url, data) if data else self.client.get(url)
        client_ms = (time.perf_counter() - started) * 1000
        close_old_connections()  # as a WSGI server does at the end of a request
        if response.status_code != status:
            raise AssertionError(f"{method.upper()} {url}: {response.status_code}, not {status}")
        if kind == "post":  # a POST that submits, or one that moves on to the next screen
            kind = (
                "submit"
                if "done" in parse_qs(urlsplit(response["Location"]).query)
                else "page_post"
            )
        server_ms, cpu_db_ms, queries = getattr(response, "bench")  # noqa: B009 - set by ServerTime
        self.samples[kind].append((server_ms, cpu_db_ms, client_ms))
        self.queries[kind] = max(self.queries.get(kind, 0), queries)
        return response

    def answer(self, url: str, doc: Any, n: int) -> None:
        """Open the link, post each screen, follow to the thank-you page."""
        self.request("answer", "get", url)
        first = doc.questions[0].id
        while True:
            response = self.request("post", "post", url, screen_data(doc, first, n), status=303)
            query = parse_qs(urlsplit(response["Location"]).query)
            if "done" in query:
                self.request("thanks", "get", response["Location"])
                return
            first = query["q"][0]
            self.request("answer", "get", response["Location"])


def one_run(
    run_number: int, version: Any, customers: list[int], responses: int, concurrency: int
) -> dict[str, Any]:
    import random

    from django.db import close_old_connections, connection
    from django.db.models import Max
    from django.urls import reverse

    from huifang.customers.models import Customer
    from huifang.surveys.answering import document_of
    from huifang.surveys.links import token_for
    from huifang.surveys.models import Response

    doc = document_of(Response(version=version))
    chosen = random.Random(run_number).sample(customers, min(responses, len(customers)))
    # Message ids no response of this version has yet: every run starts new responses.
    highest = Response.objects.filter(version=version).aggregate(m=Max("message_id"))["m"] or 0
    base = (highest // RUN_MESSAGE_BASE + 1) * RUN_MESSAGE_BASE
    assert max(chosen) < RUN_MESSAGE_BASE, "customer ids must stay below RUN_MESSAGE_BASE"
    work: queue.Queue[tuple[int, str]] = queue.Queue()
    for n, pk in enumerate(chosen):
        token = token_for(version, Customer(pk=pk), message_id=base + pk, channel="sms")
        work.put((n, reverse("surveys:answer", args=[token])))
    kinds = ("answer", "page_post", "submit", "thanks")
    samples: dict[str, list[tuple[float, float, float]]] = {k: [] for k in kinds}
    queries: dict[str, int] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def respondent() -> None:
        mine: dict[str, list[tuple[float, float, float]]] = {k: [] for k in kinds}
        try:
            with connection.execute_wrapper(count_database):
                person = Respondent(mine)
                while True:
                    try:
                        n, url = work.get_nowait()
                    except queue.Empty:
                        break
                    try:
                        person.answer(url, doc, n)
                    except Exception as exc:
                        errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            close_old_connections()
            connection.close()
            with lock:
                for kind, values in mine.items():
                    samples[kind] += values
                for kind, count in person.queries.items():
                    queries[kind] = max(queries.get(kind, 0), count)

    threads = [threading.Thread(target=respondent) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    submitted = Response.objects.filter(
        version=version, message_id__gte=base, message_id__lt=base + RUN_MESSAGE_BASE
    )
    recorded = submitted.count()
    unfinished = submitted.filter(submitted_at__isnull=True).count()
    if recorded != len(chosen) or unfinished:
        errors.append(
            f"{len(chosen)} respondents, {recorded} responses, {unfinished} not submitted"
        )
    requests = sum(len(v) for v in samples.values())
    figures: dict[str, Any] = {}
    for kind in ("answer", "submit", "page_post", "thanks"):
        values = samples[kind]
        figures[kind] = {
            "n": len(values),
            "queries_max": queries.get(kind, 0),
            **{
                f"{name}_{q}_ms": percentile([v[i] for v in values], p) if values else None
                for i, name in enumerate(("server", "cpu_db", "client"))
                for q, p in (("p50", 0.5), ("p95", 0.95))
            },
        }
    return {
        "seconds": round(seconds, 2),
        "requests_per_s": round(requests / seconds, 1),
        "submissions_per_s": round(len(samples["submit"]) / seconds, 1),
        "figures": figures,
        "errors": errors[:10],
        "error_count": len(errors),
    }


def answer_sections(args: argparse.Namespace) -> dict[str, Any]:
    setup_django_for_pages()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)  # nothing to do when it is current
    settings.MIDDLEWARE = [f"{__name__}.ServerTime", *settings.MIDDLEWARE]
    ServerTime.slots = Slots(args.workers)
    customers = load_customers(args.customers)
    version = survey_version(args.survey)
    runs = []
    for number in range(1, args.runs + 1):
        outcome = one_run(number, version, customers, args.responses, args.concurrency)
        f = outcome["figures"]
        log(
            f"run {number}: answer p95 {f['answer']['server_p95_ms']} ms, submit p95 "
            f"{f['submit']['server_p95_ms']} ms (server); {outcome['requests_per_s']} req/s"
            + (
                f"; {outcome['error_count']} ERRORS: {outcome['errors'][:3]}"
                if outcome["errors"]
                else ""
            )
        )
        runs.append(outcome)

    def median(kind: str, key: str) -> float | None:
        values = [r["figures"][kind][key] for r in runs if r["figures"][kind][key] is not None]
        return round(statistics.median(values), 1) if values else None

    def section(kind: str) -> dict[str, Any]:
        keys = [k for k in runs[0]["figures"][kind] if k.endswith("_ms")]
        return {
            "requests_per_run": runs[0]["figures"][kind]["n"],
            "queries_max": max(r["figures"][kind]["queries_max"] for r in runs),
            **{k: median(kind, k) for k in keys},
        }

    document: dict[str, Any] = {
        "database": connection.vendor,
        "survey": args.survey,
        "customers": len(customers),
        "responses_per_run": args.responses,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
        "answer": section("answer"),
        "submit": section("submit"),
        "page_post": section("page_post"),
        "thanks": section("thanks"),
        "requests_per_s": statistics.median(r["requests_per_s"] for r in runs),
        "submissions_per_s": statistics.median(r["submissions_per_s"] for r in runs),
        "per_run": [
            {k: v for k, v in r.items() if k != "figures"}
            | {k: r["figures"][k]["server_p95_ms"] for k in ("answer", "submit")}
            for r in runs
        ],
    }
    for kind in ("answer", "submit"):
        p95 = document[kind]["server_p95_ms"]
        document[kind]["target_p95_ms"] = TARGETS_MS[kind]
        document[f"ok_{kind}_p95"] = p95 is not None and p95 <= TARGETS_MS[kind]
    document["failed"] = sum(r["error_count"] for r in runs)
    return document


# -- results ----------------------------------------------------------------------------------


def results_url(db_name: str) -> tuple[str, str]:
    """(URL of the kept results database, URL of its server's maintenance database)."""
    base = os.environ.get("DATABASE_URL", "")
    if urlsplit(base).scheme not in {"postgres", "postgresql", "pgsql"}:
        base = "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(base)
    bench = parts._replace(path=f"/{db_name}").geturl()
    admin = parts._replace(scheme="postgresql", path="/postgres").geturl()
    return bench, admin


def loaded_meta() -> dict[str, Any] | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [META])
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(f"SELECT data FROM {META}")  # noqa: S608
        row = cursor.fetchone()
    return None if row is None else (row[0] if isinstance(row[0], dict) else json.loads(row[0]))


def with_blanks(model: Any, given: dict[str, str]) -> dict[str, str]:
    """``given`` plus an empty string for every blank text column it leaves out (Django has
    no database default for them, and ``insert_select`` refuses a NOT NULL column without)."""
    from django.db import models

    blank = {
        str(f.column): "''"
        for f in model._meta.local_concrete_fields
        if isinstance(f, models.CharField | models.TextField)
        and f.blank
        and not f.null
        and not f.has_default()
    }
    return {**blank, **given}


def load_results(answers: int) -> dict[str, Any]:
    """The results questionnaire, its answers and messages, set-based (see the docstring)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from huifang.accounts.models import Team
    from huifang.customers.models import Customer
    from huifang.messaging.models import Message
    from huifang.rules.models import Rule
    from huifang.surveys.document import load_survey_text
    from huifang.surveys.models import Answer, Response
    from huifang.surveys.services import save_survey

    try:
        from common import insert_select
        from workspace import SecondaryIndexes, _array, _regions
    except ImportError:  # imported as bench.surveys
        from bench.common import insert_select
        from bench.workspace import SecondaryIndexes, _array, _regions

    steps: dict[str, float] = {}
    clock = time.perf_counter()

    def step(name: str) -> None:
        nonlocal clock
        steps[name] = round(time.perf_counter() - clock, 1)
        log(f"  {name}: {steps[name]} s")
        clock = time.perf_counter()

    doc = load_survey_text(RESULTS_DOC)
    v1 = save_survey(doc, note="bench v1").version
    doc2 = doc.model_copy(deep=True)
    doc2.questions[2].title = "还有什么建议吗？"
    v2 = save_survey(doc2, note="bench v2").version
    rules = [
        Rule.objects.get_or_create(key=f"bench-survey-{r:02d}", defaults={"name": f"回访规则{r}"})[
            0
        ].pk
        for r in range(1, RULES + 1)
    ]
    teams = [
        Team.objects.get_or_create(
            key=f"bench-survey-team-{t:02d}", defaults={"name": f"回访{t}组"}
        )[0].pk
        for t in range(1, TEAMS + 1)
    ]
    get_user_model().objects.filter(username="bench-results").delete()
    get_user_model().objects.create_superuser("bench-results", password=None)
    responses = answers // 3
    messages = responses * 3 // 2
    customers = max(100, responses // 3)
    provinces, cities = _regions()
    arr = _array
    tables = [m._meta.db_table for m in (Customer, Message, Response, Answer)]
    indexes = SecondaryIndexes(tables)
    # Autocommit, statement by statement: without its meta row, a half-built database is
    # built again next time.
    indexes.drop()
    step("drop indexes")
    insert_select(
        Customer,
        with_blanks(
            Customer,
            {
                "created_at": "now() - interval '400 days'",
                "updated_at": "now()",
                "external_id": "'SR' || lpad(i::text, 9, '0')",
                "name": "'客户' || i",
                "phone": "'+86' || (13900000000 + i)::text",
                "province": f"{arr(provinces)}[1 + mod(i * 31, {len(provinces)})]",
                "city": f"{arr(cities)}[1 + mod(i * 31, {len(cities)})]",
                "language": "'zh-hans'",
                "time_zone": "'Asia/Shanghai'",
            },
        ),
        "FROM generate_series(1, %s) AS i",
        [customers],
    )
    first_customer = Customer.objects.filter(external_id="SR000000001").values_list(
        "pk", flat=True
    )[0]
    step("customers")
    # Message i carries the link of response i (responses on the phone have none).
    first_message = (Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    sent = "now() - mod(i, 365) * interval '1 day' - mod(i, 997) * interval '1 minute'"
    # The first 60 % on version 1, the rest on version 2; response i answers message i.
    version = f"CASE WHEN i * 5 < {messages * 2} THEN {v1.pk} ELSE {v2.pk} END"
    channel = f"{arr(list(CHANNELS[:3]))}[1 + mod(i, 3)]"
    insert_select(
        Message,
        with_blanks(
            Message,
            {
                "id": f"{first_message - 1} + i",
                "customer_id": f"{first_customer - 1} + 1 + mod(i * 7, {customers})",
                "rule_id": f"{arr(rules, 'int')}[1 + mod(i, {RULES})]",
                "channel": channel,
                "template": "'bench-survey'",
                "status": "'sent'",
                "planned_at": sent,
                "sent_at": sent,
                "created_at": sent,
                "survey_version_id": version,
            },
        ),
        "FROM generate_series(1, %s) AS i",
        [messages],
    )
    step("messages")
    started = f"{sent} + interval '2 hours'"
    reasons = arr(["quality", "price", "service", "speed", "other"])
    insert_select(
        Response,
        with_blanks(
            Response,
            {
                "version_id": version,
                "customer_id": f"{first_customer - 1} + 1 + mod(i * 7, {customers})",
                # The channel of its message, or a phone call for one in four.
                "channel": f"CASE WHEN mod(i, 4) = 3 THEN 'phone' ELSE {channel} END",
                "message_id": f"CASE WHEN mod(i, 4) < 3 THEN {first_message - 1} + i END",
                "rule_id": f"{arr(rules, 'int')}[1 + mod(i, {RULES})]",
                "team_id": f"{arr(teams, 'int')}[1 + mod(i / 7, {TEAMS})]",
                "started_at": started,
                "submitted_at": f"CASE WHEN mod(i, 20) > 0 THEN {started} + interval '3 min' END",
                "answers": "jsonb_build_object('nps', mod(i * 13, 11), 'csat', 1 + mod(i * 7, 5), "
                f"CASE WHEN mod(i, 10) < 7 THEN 'reason' ELSE 'comment' END, "
                f"CASE WHEN mod(i, 10) < 7 THEN to_jsonb({reasons}[1 + mod(i, 5)]) "
                "ELSE to_jsonb('第 ' || i || ' 位客户：服务很及时，物流可以再快一点') END)",
                "csat": "CASE WHEN mod(i, 20) > 0 THEN 1 + mod(i * 7, 5) END",
                "nps": "CASE WHEN mod(i, 20) > 0 THEN mod(i * 13, 11) END",
            },
        ),
        "FROM generate_series(1, %s) AS i",
        [responses],
    )
    step("responses")
    table = Response._meta.db_table
    for question, value, number in (
        ("nps", "answers->'nps'", "(answers->>'nps')::float"),
        ("csat", "answers->'csat'", "(answers->>'csat')::float"),
        ("reason", "answers->'reason'", "NULL"),
        ("comment", "answers->'comment'", "NULL"),
    ):
        insert_select(
            Answer,
            with_blanks(
                Answer,
                {
                    "response_id": "id",
                    "version_id": "version_id",
                    "question": f"'{question}'",
                    "value": value,
                    "number": number,
                    "choice": f"CASE WHEN jsonb_typeof({value}) = 'string' "
                    f"AND length({value} #>> '{{}}') <= 80 THEN {value} #>> '{{}}' END",
                    "submitted_at": "submitted_at",
                },
            ),
            f"FROM {table} WHERE answers ? '{question}' AND version_id IN ({v1.pk}, {v2.pk})",
            [],
        )
    step("answers")
    indexes.build()
    step("build indexes")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    step("vacuum analyze")
    return {
        "survey": RESULTS_KEY,
        "customers": customers,
        "messages": messages,
        "responses": responses,
        "answers": Answer.objects.filter(version__survey__key=RESULTS_KEY).count(),
        "load_steps_s": steps,
        "team": teams[0],
    }


def results_section(args: argparse.Namespace) -> dict[str, Any]:
    """Build (or reuse) the results database and time the results page."""
    url, admin = results_url(args.db_name)
    if not args.smoke:
        os.environ["DATABASE_URL"] = url
    setup_django_for_pages()
    import psycopg
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import NoReverseMatch, reverse

    wanted = {"version": DATA_VERSION, "answers_asked": args.answers}
    meta = None
    if not args.rebuild:
        try:
            meta = loaded_meta()
        except Exception:
            meta = None
            connection.close()
    fresh = meta is None or any(meta.get(k) != v for k, v in wanted.items())
    if fresh:
        if not args.smoke:
            if not args.db_name.startswith("huifang_bench"):
                raise SystemExit(
                    f"refusing to drop {args.db_name!r}: it must start with huifang_bench"
                )
            log(f"building {args.db_name}: {args.answers:,} answers")
            connection.close()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{args.db_name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{args.db_name}"')
        if not (args.smoke and os.environ.get(TEMPLATE_POSTGRES)):
            call_command("migrate", verbosity=0, interactive=False)
        started = time.perf_counter()
        meta = {**wanted, **load_results(args.answers)}
        meta["load_s"] = round(time.perf_counter() - started, 1)
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {META} (data jsonb NOT NULL)")
            cursor.execute(f"DELETE FROM {META}")  # noqa: S608
            cursor.execute(f"INSERT INTO {META} (data) VALUES (%s::jsonb)", [json.dumps(meta)])  # noqa: S608
        log(f"loaded in {meta['load_s']} s")
    else:  # kept from an earlier run: bring its schema up to this code's (new indexes, tables)
        call_command("migrate", verbosity=0, interactive=False)
        with connection.cursor() as cursor:
            # VACUUM as autovacuum would after a migration rewrote rows: the visibility map
            # the index-only scans rely on, as in a database that has settled.
            cursor.execute("VACUUM ANALYZE")
    assert meta is not None
    if meta.get("rollups") != ROLLUPS_VERSION:  # the headline scores, trend and cuts read them
        from django.utils import timezone

        from huifang.analytics.rollup import rebuild

        started = time.perf_counter()
        rebuild(None, None, timezone.now())
        meta = {**meta, "rollups": ROLLUPS_VERSION}
        meta["rollups_s"] = round(time.perf_counter() - started, 1)
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {META}")  # noqa: S608
            cursor.execute(f"INSERT INTO {META} (data) VALUES (%s::jsonb)", [json.dumps(meta)])  # noqa: S608
        log(f"rollups rebuilt in {meta['rollups_s']} s")
    report: dict[str, Any] = {
        "database": connection.vendor,
        "db_name": connection.settings_dict["NAME"],
        "loaded_now": fresh,
        **{k: meta[k] for k in ("customers", "messages", "responses", "answers", "load_s")},
        "rollups_s": meta.get("rollups_s"),
    }
    try:
        page = reverse("rules:survey_results", args=[RESULTS_KEY])
    except NoReverseMatch:
        reason = "the results page (rules:survey_results) does not exist yet"
        log(f"results: {reason}: skipped")
        return {**report, "skipped": reason}
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench-results"))
    pages: dict[str, Any] = {}
    failed = []
    for name, query in FILTERS.items():
        today = timezone.localdate()
        values = {"team": meta["team"], "today": today, "year_ago": today - timedelta(days=365)}
        url = page + ("?" + query.format(**values) if query else "")
        warm = client.get(url)
        if warm.status_code != 200:
            failed.append(f"{url}: {warm.status_code}")
            continue
        with CaptureQueriesContext(connection) as captured:
            client.get(url)
        # Now: every request starts by emptying the connection's query log.
        queries = len(captured.captured_queries)
        per_run = []
        for _ in range(args.runs):
            samples = []
            for _ in range(args.page_requests):
                started = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    failed.append(f"{url}: {response.status_code}")
            per_run.append(p50_p95(samples))
        pages[name] = {
            "url": url,
            "queries": queries,
            "p50_ms": statistics.median(r["p50_ms"] for r in per_run),
            "p95_ms": statistics.median(r["p95_ms"] for r in per_run),
        }
    worst = max((p["p95_ms"] for p in pages.values()), default=None)
    report.update(
        pages=pages,
        p95_ms=worst,
        target_p95_ms=TARGETS_MS["results"],
        ok_results_p95=worst is not None and worst <= TARGETS_MS["results"],
        failed=failed,
    )
    return report


# -- orchestration ----------------------------------------------------------------------------


def worker_args(args: argparse.Namespace, section: str) -> list[str]:
    return [
        sys.executable,
        SCRIPT,
        "--worker",
        section,
        "--customers",
        str(args.customers),
        "--responses",
        str(args.responses),
        "--concurrency",
        str(args.concurrency),
        "--workers",
        str(args.workers),
        "--runs",
        str(args.runs),
        "--page-requests",
        str(args.page_requests),
        "--survey",
        args.survey,
        "--answers",
        str(args.answers),
        "--db-name",
        args.db_name,
        *(["--rebuild"] if args.rebuild else []),
        *(["--smoke"] if args.smoke else []),
    ]


def worker(args: argparse.Namespace) -> None:
    answers = args.worker == "answers"
    document = answer_sections(args) if answers else results_section(args)
    print(json.dumps(document, ensure_ascii=False))


def run_worker(env: dict[str, str], command: list[str]) -> dict[str, Any]:
    """A section's process: its progress on our stderr as it goes, its JSON document."""
    done = subprocess.run(
        command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=7200, check=False
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed (exit {done.returncode})")
    return dict(json.loads(done.stdout))


def run_sections(
    args: argparse.Namespace, env: dict[str, str], sections: set[str]
) -> dict[str, Any]:
    """Each section in a process of its own (the results run on their own database)."""
    database = (
        "postgres"
        if urlsplit(env.get("DATABASE_URL", "")).scheme in {"postgres", "postgresql", "pgsql"}
        else "sqlite"
    )
    document: dict[str, Any] = {}
    if sections & {"answer", "submit"}:
        document["answers"] = run_worker(env, worker_args(args, "answers"))
    if "results" in sections:
        if database != "postgres":
            reason = "PostgreSQL only: DATABASE_URL is not a PostgreSQL database"
            document["results"] = {"skipped": reason}
        else:
            document["results"] = run_worker(env, worker_args(args, "results"))
    return document


def failures(document: dict[str, Any]) -> list[str]:
    found = []
    answers = document.get("answers")
    if answers and answers["failed"]:
        found.append(f"{answers['failed']} respondents failed on {answers['database']}")
    results = document.get("results") or {}
    if results.get("failed"):
        found.append(f"results page: {results['failed']}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="answer,submit,results")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--responses", type=int, default=500, help="respondents per run")
    parser.add_argument("--concurrency", type=int, default=50, help="respondents at a time")
    parser.add_argument(
        "--workers", type=int, default=2, help="requests handled at once (WEB_CONCURRENCY)"
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs (the median is reported)")
    parser.add_argument("--page-requests", type=int, default=20, help="results: requests per run")
    parser.add_argument("--survey", default="quarterly-nps", help="ready questionnaire answered")
    parser.add_argument("--answers", type=int, default=1_000_000, help="results: answers loaded")
    parser.add_argument("--db-name", default="huifang_bench_surveys", help="results database")
    parser.add_argument("--rebuild", action="store_true", help="build the results database again")
    parser.add_argument("--smoke", action="store_true", help="tiny throw-away databases, for CI")
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="with --smoke")
    parser.add_argument("--worker", choices=["answers", "results"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sections = set(args.sections.split(","))
    if unknown := sections - {"answer", "submit", "results"}:
        parser.error(f"no section {', '.join(sorted(unknown))}")
    if not args.smoke:
        env = dict(os.environ)
        env.setdefault("SECRET_KEY", SECRET)  # a throw-away key, as the other benchmarks use
        document = {"benchmark": "surveys", **run_sections(args, env, sections)}
        print(json.dumps(document, indent=2, ensure_ascii=False))
        if problems := failures(document):
            raise SystemExit("; ".join(problems))
        return
    args.customers, args.responses, args.answers = (
        SMOKE["customers"],
        SMOKE["responses"],
        SMOKE["answers"],
    )
    args.runs, args.page_requests, args.rebuild = 1, 3, False
    results: dict[str, Any] = {}
    for database in databases(args.only):
        with throwaway(database) as env:
            if database == "postgres":
                args.db_name = urlsplit(env["DATABASE_URL"]).path.lstrip("/")
            results[database] = run_sections(args, env, sections)
        a = results[database].get("answers", {})
        log(f"{database}: {a.get('responses_per_run')} respondents, failed {a.get('failed')}")
    document = {"benchmark": "surveys", "smoke": True, "results": results}
    print(json.dumps(document, indent=2, ensure_ascii=False))
    problems = [p for r in results.values() for p in failures(r)]
    if problems:
        raise SystemExit("; ".join(problems))


if __name__ == "__main__":
    main()
