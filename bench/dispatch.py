#!/usr/bin/env python3
"""Benchmark sending (issue 4) on SQLite and PostgreSQL; prints JSON.

For each database: a brand-new database with ``--messages`` customers who consented to SMS and
e-mail, a rule whose one step sends a rendered template (with a frequency cap, so the gate
reads each customer's recent messages), and local fake providers **in other processes**: an
SMTP sink and an HTTP server that answers like our webhook receiver and like
Aliyun SMS. Then, per channel, each run:

1. puts one due step per customer (the moment a rule's send step falls due);
2. times the engine claiming and processing them through the contact-pressure gate (which
   queues the messages) and the dispatcher claiming, rendering, sending and recording them —
   from claim to ``sent``;
3. reports messages per second, with the gate on, and the same run with the gate off (a
   pass-through in the engine, no last look in the dispatcher): ``gate_cost`` is the ratio of
   the two times (median over ``--runs`` alternating pairs).

    .venv/bin/python bench/dispatch.py [--messages 10000] [--runs 3] [--only sqlite|postgres]
        [--smoke]

``--smoke``: 100 messages, one run, one dispatcher process, for CI: the figures mean nothing,
a failure anywhere exits non-zero.

Targets: ≥ 1,000 e-mails/s and ≥ 2,000 webhook / SMS sends/s with the gate on; gate cost
≤ 1.10.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    from common import databases, empty, run, throwaway
except ImportError:  # imported as bench.dispatch
    from bench.common import databases, empty, run, throwaway

CHANNELS = ("email", "webhook", "sms_aliyun")
# How long the dispatchers get to start before a timed run, and to send a run's messages.
SETTLE_S, DEADLINE_S = 3.0, 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--workers", type=int, default=2, help="dispatcher processes (default 2, one per core)"
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dispatcher", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--smtp-sink", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--http-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.messages, args.runs, args.workers = 100, 1, 1
    if args.smtp_sink:
        return smtp_sink()
    if args.http_fake:
        return http_fake()
    if args.dispatcher:
        return dispatcher(gate=args.dispatcher == "on")
    if args.measure:
        print(json.dumps(measure(args.messages, args.runs, args.workers, smoke=args.smoke)))
        return None
    results = {}
    for database in databases(args.only):
        with throwaway(database) as env:
            env.update(OUTBOUND_HTTP_ALLOW="127.0.0.1")
            out = run(
                env,
                sys.executable,
                str(Path(__file__).resolve()),
                "--measure",
                "--messages",
                str(args.messages),
                "--runs",
                str(args.runs),
                "--workers",
                str(args.workers),
                *(["--smoke"] if args.smoke else []),
            )
        results[database] = json.loads(out.strip().splitlines()[-1])
        print(json.dumps({database: results[database]}), file=sys.stderr)
    report = {
        "benchmark": "dispatch",
        "messages": args.messages,
        "runs": args.runs,
        "smoke": args.smoke,
        "dispatcher_processes": args.workers,
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    print(json.dumps(report, indent=2))
    return None


# -- the fake providers, each in its own process ---------------------------------------------


@contextmanager
def fakes() -> Iterator[tuple[int, int]]:
    """Each fake listens on a port of the system's choosing and prints it once it listens: a
    port picked here and bound there could be taken by another process in between, and the
    benchmark would then talk to a stranger."""
    script = str(Path(__file__).resolve())
    processes = [
        subprocess.Popen([sys.executable, script, flag], stdout=subprocess.PIPE, text=True)
        for flag in ("--smtp-sink", "--http-fake")
    ]
    try:
        ports = []
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()  # empty if it died first
            if not line.strip().isdigit():
                raise SystemExit(f"a fake provider did not start (exit {process.wait()})")
            ports.append(int(line))
        yield ports[0], ports[1]
    finally:
        stop(processes, "a fake provider")


def listening(server: Any) -> None:
    """Tell the parent the port (see ``fakes``)."""
    print(server.sockets[0].getsockname()[1], flush=True)


def smtp_sink() -> None:
    """Accepts every message and forgets it, the way a relay's fast path does: SMTP as RFC 5321
    has it (EHLO, MAIL, RCPT, DATA with dot-stuffing, RSET, NOOP, QUIT), in a few lines of
    asyncio. aiosmtpd, which the tests use to look inside messages, spent 0.40 ms of CPU a
    message here against the sender's 0.18 ms (this sink: 0.13 ms): on a machine whose two
    cores the sink shares with the dispatchers, it would be the sink being measured, not us."""
    import asyncio

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    await reader.readuntil(b"\r\n.\r\n")
                    writer.write(b"250 2.0.0 Message accepted\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 Bye\r\n")
                    await writer.drain()
                    break
                else:  # HELO, MAIL, RCPT, RSET, NOOP
                    writer.write(b"250 OK\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0, limit=1 << 20)
        listening(server)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def http_fake() -> None:
    """Answers a webhook POST like a receiver (``{"id": …}``) and an Aliyun SendSms like
    Aliyun (``{"Code": "OK", "BizId": …}``), on kept-alive HTTP/1.1 connections.

    A few lines of asyncio rather than ``http.server``: the fake must not be the bottleneck
    of a benchmark about our side, on a machine where both share two cores.
    """
    import asyncio
    import itertools

    numbers = itertools.count(1)

    def answer(path: bytes) -> bytes:
        number = next(numbers)
        if path.startswith(b"/aliyun"):
            payload = {"Code": "OK", "Message": "OK", "BizId": f"{number}^0"}
        else:
            payload = {"id": f"evt-{number}"}
        data = json.dumps(payload).encode()
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        return head.encode() + data

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(answer(path))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        listening(server)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- inside the measuring process ------------------------------------------------------------


def measure(messages: int, runs: int, workers: int, *, smoke: bool) -> dict[str, Any]:
    global SETTLE_S, DEADLINE_S
    if smoke:  # the warm-up run waits for the dispatchers anyway; a failure shows sooner
        SETTLE_S, DEADLINE_S = 0.0, 60.0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    result: dict[str, Any] = {
        "vendor": connection.vendor,
        "dispatch_threads": settings.HUIFANG_DISPATCH_THREADS,
        "dispatch_batch": settings.HUIFANG_DISPATCH_BATCH,
    }
    # Each channel's runs with the gate on, then off, each with dispatchers of their own; a
    # smoke run starts the dispatchers once per setting of the gate, for all three channels
    # (a dispatcher takes seconds to start, as long as a smoke run's sending).
    plan = (
        [(gate, CHANNELS) for gate in (True, False)]
        if smoke
        else [(gate, (kind,)) for kind in CHANNELS for gate in (True, False)]
    )
    timings: dict[str, dict[bool, list[tuple[float, float]]]] = {k: {} for k in CHANNELS}
    with fakes() as (smtp, http):
        rules = seed(messages, smtp, http)
        for gate, kinds in plan:
            with dispatchers(workers, gate=gate):
                for kind in kinds:
                    timings[kind][gate] = timed_runs(rules[kind], messages, runs, gate=gate)
        for kind in CHANNELS:
            result[kind] = compare(timings[kind], messages)
            print(json.dumps({kind: result[kind]}), file=sys.stderr)
    return result


def dispatcher(*, gate: bool) -> None:
    """A worker's dispatch loop, with the last look of the gate on or off."""
    import signal

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huifang.settings")
    import django

    django.setup()
    from huifang.messaging.dispatch import Dispatcher

    # A flag, not threading.Event: Event.set() in a signal handler that interrupts the main
    # thread inside Event.wait() waits forever for the lock that very thread holds (it
    # happened: a dispatcher that never stopped, and a benchmark that never ended).
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    worker = Dispatcher(gate=gate, keep=True)
    while not stopping:
        if worker.run_once() < worker.limit:
            time.sleep(0.01)
    worker.close()


@contextmanager
def dispatchers(count: int, *, gate: bool) -> Iterator[None]:
    script = str(Path(__file__).resolve())
    flag = "on" if gate else "off"
    processes = [
        subprocess.Popen([sys.executable, script, "--dispatcher", flag]) for _ in range(count)
    ]
    time.sleep(SETTLE_S)  # started and polling
    try:
        yield
    finally:
        stop(processes, "a dispatcher")


def stop(processes: list[subprocess.Popen[Any]], what: str) -> None:
    """SIGTERM, and SIGKILL for any that has not stopped 30 s later, which is an error: a
    process left behind would keep the benchmark's output open and the caller waiting."""
    for process in processes:
        process.terminate()
    stuck = []
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            stuck.append(process.pid)
    if stuck:
        raise SystemExit(f"{what} did not stop within 30 s of SIGTERM (pid {stuck}): killed")


def seed(count: int, smtp: int, http: int) -> dict[str, Any]:
    from django.db import transaction

    from huifang.core.clock import DatabaseClock
    from huifang.customers.models import Consent, Customer
    from huifang.engine.lifecycle import activate
    from huifang.integrations.models import Provider
    from huifang.messaging.services import save_template
    from huifang.rules.document import parse_rule
    from huifang.rules.services import save_rule

    now = DatabaseClock().now()
    body = "{{客户姓名}}您好，您在{{购买日期}}购买的商品用得还好吗？有问题请直接回复。回TD退订"
    with transaction.atomic():
        save_template("bench", "sms", name="bench", body=body, provider_template_code="SMS_1")
        save_template("bench", "email", name="bench", subject="{{客户姓名}}，您好", body=body)
        customers = Customer.objects.bulk_create(
            Customer(name=f"客户{n}", phone=f"+8613{n:09d}", email=f"c{n}@example.cn")
            for n in range(count)
        )
        Consent.objects.bulk_create(
            Consent(customer=c, channel=channel, status="granted", method="import", recorded_at=now)
            for c in customers
            for channel in ("sms", "email")
        )
        providers = {
            "email": (
                "email",
                {"host": "127.0.0.1", "port": smtp, "security": "none", "sender": "hi@shop.cn"},
            ),
            "webhook": (
                "sms",
                {"url": f"http://127.0.0.1:{http}/hook", "secret": "0123456789abcdef-bench"},
            ),
            "sms_aliyun": (
                "sms",
                {
                    "access_key_id": "bench",
                    "access_key_secret": "bench-secret",
                    "sign_name": "回访",
                    "endpoint": f"http://127.0.0.1:{http}/aliyun",
                },
            ),
        }
        rules = {}
        for kind, (channel, config) in providers.items():
            provider = Provider(name=kind, kind=kind, channel=channel, enabled=False)
            provider.set_settings(config)
            provider.save()
            document = parse_rule(
                {
                    "key": f"bench-{kind.replace('_', '-')}",
                    "name": kind,
                    "trigger": {"kind": "event", "event": "purchase"},
                    "policy": {
                        "quiet_hours": {"start": "00:00", "end": "00:00"},
                        "caps": [{"channel": "any", "max": 3, "per_days": 7}],
                    },
                    "steps": [{"id": "s", "send": {"channel": channel, "template": "bench"}}],
                }
            )
            saved = save_rule(document)
            activate(saved.rule, saved.version)
            rules[kind] = (saved.rule.pk, saved.version.pk, provider.pk)
    return rules


def due(rule: tuple[int, int, int], count: int) -> None:
    """One enrollment per customer whose send step is due now; earlier runs forgotten."""
    from django.db import connection, transaction

    from huifang.core.clock import DatabaseClock
    from huifang.customers.models import Customer
    from huifang.engine.models import DueStep, Enrollment
    from huifang.integrations.models import Provider
    from huifang.messaging.models import Message

    rule_id, version_id, provider_id = rule
    now = DatabaseClock().now()
    with transaction.atomic():
        # The messages' attempts and every other row that points at these go too.
        empty([Message, DueStep, Enrollment])
        Provider.objects.update(enabled=False)
        Provider.objects.filter(pk=provider_id).update(enabled=True)
        ids = list(Customer.objects.order_by("id").values_list("id", flat=True)[:count])
        enrollments = Enrollment.objects.bulk_create(
            Enrollment(
                rule_id=rule_id,
                version_id=version_id,
                customer_id=cid,
                anchor="bench",
                anchor_at=now,
                step="s",
                started_at=now,
            )
            for cid in ids
        )
        DueStep.objects.bulk_create(
            DueStep(enrollment=e, step="s", due_at=now) for e in enrollments
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


class _Open:
    """The gate switched off: every message goes at once on its first channel."""

    def __init__(self, *args: Any) -> None:
        pass

    def load(self, *args: Any) -> None:
        pass

    def decide(self, message: Any, plan: Any) -> Any:
        from huifang.messaging.gate import SEND, Decision

        return Decision(SEND, channel=message.channels[0])

    def sent(self, *args: Any) -> None:
        pass


def one_run(rule: tuple[int, int, int], count: int, *, gate: bool) -> tuple[float, float]:
    """Seconds from the engine's first claim until every message is ``sent`` (the dispatchers
    already polling), and the part of it the engine took."""
    from django.db import connection

    from huifang.engine import runner
    from huifang.messaging.gate import Gate
    from huifang.messaging.models import Message

    due(rule, count)
    runner.Gate = Gate if gate else _Open  # type: ignore[misc,assignment]
    try:
        started = time.perf_counter()
        runner.run_until_idle()
        engine = time.perf_counter() - started
        deadline = started + DEADLINE_S
        sent_sql = f"SELECT COUNT(*) FROM {Message._meta.db_table} WHERE status = 'sent'"  # noqa: S608
        while True:
            with connection.cursor() as cursor:
                cursor.execute(sent_sql)
                (sent,) = cursor.fetchone()
            if sent >= count:
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"only {sent} of {count} messages were sent")
            time.sleep(0.01)
        return time.perf_counter() - started, engine
    finally:
        runner.Gate = Gate  # type: ignore[misc]


def timed_runs(
    rule: tuple[int, int, int], count: int, runs: int, *, gate: bool
) -> list[tuple[float, float]]:
    one_run(rule, min(count, 500), gate=gate)  # warm up: connections, caches
    return [one_run(rule, count, gate=gate) for _ in range(runs)]


def compare(timings: dict[bool, list[tuple[float, float]]], count: int) -> dict[str, Any]:
    on = [total for total, _engine in timings[True]]
    off = [total for total, _engine in timings[False]]
    return {
        "per_s_gate_on": round(count / statistics.median(on)),
        "per_s_gate_off": round(count / statistics.median(off)),
        "gate_cost": round(statistics.median(on) / statistics.median(off), 3),
        "engine_s_gate_on": round(statistics.median(e for _t, e in timings[True]), 2),
        "engine_s_gate_off": round(statistics.median(e for _t, e in timings[False]), 2),
        "runs_s_gate_on": [round(t, 2) for t in on],
        "runs_s_gate_off": [round(t, 2) for t in off],
    }


if __name__ == "__main__":
    main()
