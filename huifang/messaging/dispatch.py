"""The dispatcher: queued messages out to their providers, each handed over at most once.

1. **Claim** (one transaction): pick queued messages whose time has come (``FOR UPDATE SKIP
   LOCKED`` on PostgreSQL; SQLite's write lock serialises dispatchers), take the last look
   (``prepare``: the gate once more, the provider and its rate limit, the rendered text) and
   mark those that go ``sending``, with a lease — committed before anything leaves.
2. **Send**, outside any transaction, several at a time (``DISPATCH_THREADS``): the network
   waits, not the database.
3. **Record** every outcome and keep the hand-off as an ``Attempt``: ``sent`` with the
   provider's id; a transient error back to ``queued`` with back-off until the attempts run
   out (``DISPATCH_MAX_ATTEMPTS``), then ``failed``; a permanent error ``failed`` at once.

A message still ``sending`` when its lease ends — the worker died between handing it over and
recording the answer — becomes ``uncertain`` and is never sent again by us (DESIGN.md
invariant 3); the message log shows it for a person to check. So does a message that went out
and whose answer never came (a time-out waiting for it), and an unexpected error in a
transport: in each, nobody can say whether the provider took the message.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from huifang.core import rows
from huifang.core.clock import Clock, DatabaseClock, worker_name
from huifang.integrations.base import Receipt, Transport, TransportError
from huifang.integrations.log.transport import LogTransport
from huifang.integrations.outbound import record_blocked

from . import changes
from .models import Attempt, Message
from .prepare import COLUMNS, Job, Preparation, Verdict

logger = logging.getLogger("huifang.messaging")

TABLE = Message._meta.db_table
_SENDING = (
    "status", "lease_until", "claimed_by", "provider_id", "transport",
    "body", "subject", "links", "template_version_id", "changed_at",
)  # fmt: skip
_RECORD = (
    "status", "sent_at", "provider_ref", "attempts", "lease_until", "ready_at", "error",
    "changed_at",
)  # fmt: skip
# Every statement below says when it changed the rows (``Message.changed_at``, by this
# dispatcher's clock): the report rollups redo the days the change counts on.


def backoff(attempt: int) -> timedelta:
    """30 s, 2 min, 8 min, 32 min … at most 6 h: a provider's bad minute passes unnoticed,
    a bad day is not met with a flood."""
    return timedelta(seconds=min(30 * 4 ** max(attempt - 1, 0), 6 * 3600))


@dataclass(slots=True)
class Outcome:
    job: Job
    started: datetime
    receipt: Receipt | None = None
    error: TransportError | None = None
    unexpected: str = ""  # a transport bug: nobody knows whether it went
    released: bool = False  # never handed over: the batch ran out of its lease


class Transports:
    """One transport per provider and sending thread (an SMTP connection is not shared between
    threads). A long-running dispatcher keeps them between batches — a provider's connection
    is opened once, not once a batch — and closes those idle for ``IDLE_SECONDS`` (SMTP
    servers drop idle clients after five minutes at the earliest, RFC 5321 4.5.3.2.7). An edited
    provider gets a new transport: the key holds its settings."""

    IDLE_SECONDS = 60.0

    def __init__(self) -> None:
        self._made: dict[tuple[int, int | None, str], Transport] = {}
        self._used: dict[tuple[int, int | None, str], float] = {}
        self._lock = threading.Lock()

    def get(self, job: Job) -> Transport:
        provider = job.provider
        # The settings as stored (secrets sealed), so an edited provider gets a new transport.
        version = (
            f"{provider.kind}{sorted(provider.config.items())}{provider.sealed}" if provider else ""
        )
        key = (threading.get_ident(), provider.pk if provider else None, version)
        with self._lock:
            made = self._made.get(key)
        if made is None:
            made = provider.transport() if provider else LogTransport()
            with self._lock:
                self._made[key] = made
        self._used[key] = time.monotonic()
        return made

    def close_idle(self, idle: float | None = None) -> None:
        """Close what has not been used for ``idle`` seconds (between batches only)."""
        limit = time.monotonic() - (self.IDLE_SECONDS if idle is None else idle)
        with self._lock:
            stale = [key for key, used in self._used.items() if used <= limit]
            closing = [self._made.pop(key) for key in stale]
            for key in stale:
                del self._used[key]
        for made in closing:
            close = getattr(made, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # a connection that will not close cleanly is gone anyway
                    logger.debug("closing %s failed", made.key, exc_info=True)

    def close(self) -> None:
        self.close_idle(idle=-1.0)


class Dispatcher:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        limit: int | None = None,
        lease: timedelta | None = None,
        threads: int | None = None,
        gate: bool = True,
        keep: bool = False,
    ) -> None:
        self.clock = clock or DatabaseClock()
        self.limit = limit or settings.HUIFANG_DISPATCH_BATCH
        self.lease = lease or timedelta(seconds=settings.HUIFANG_DISPATCH_LEASE_SECONDS)
        self.threads = threads or settings.HUIFANG_DISPATCH_THREADS
        self.max_attempts = settings.HUIFANG_DISPATCH_MAX_ATTEMPTS
        # Off only in the benchmark that measures what the last look costs.
        self.gate = gate
        # A worker's loop keeps its sending threads and providers' connections between
        # batches (``close`` when done); otherwise each batch opens and closes its own.
        self.keep = keep
        self.transports = Transports()
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the sending threads and close every provider connection."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self.transports.close()

    def run_once(self) -> int:
        """Expire lost leases, then claim, send and record one batch; returns its size."""
        self.expire()
        token = f"{worker_name()}:{secrets.token_hex(4)}"
        claimed, jobs = self.claim(token)
        if jobs:
            self.record(self.send(jobs), token)
        return claimed

    def run_until_idle(self) -> int:
        total = 0
        try:
            while done := self.run_once():
                total += done
        finally:
            if self.keep:
                self.close()
        return total

    # -- 1. claim ----------------------------------------------------------------------------

    def claim(self, token: str) -> tuple[int, list[Job]]:
        skip_locked = " FOR UPDATE SKIP LOCKED" if rows.postgres() else ""
        with transaction.atomic():
            now = self.clock.now()
            picked = rows.fetch(
                f"SELECT {COLUMNS} FROM {TABLE} WHERE status = 'queued' "  # noqa: S608
                f"AND ready_at <= %s ORDER BY ready_at, id LIMIT %s{skip_locked}",
                [rows.to_db_time(now), self.limit],
            )
            jobs = [Job.from_row(row) for row in picked]
            verdict = Preparation(now, gate=self.gate).run(jobs)
            self.write_verdict(verdict, now, token)
        return len(jobs), verdict.send

    def write_verdict(self, verdict: Verdict, now: datetime, token: str) -> None:
        lease_until, at = now + self.lease, now.isoformat()
        sending = []
        for j in verdict.send:
            provider = j.provider.pk if j.provider else None
            sending.append(
                (j.pk, Message.Status.SENDING, lease_until, token, provider, j.transport_key,
                 j.body, j.subject, j.links, j.version_id, now)
            )  # fmt: skip
        rows.update(TABLE, _SENDING, sending, json_columns={"links"})
        held = [
            (job.pk, until, reason, [*job.decisions, _record(at, "defer", reason, until)], now)
            for job, until, reason in verdict.hold
        ]
        rows.update(
            TABLE,
            ("ready_at", "reason", "decisions", "changed_at"),
            held,
            json_columns={"decisions"},
        )
        dropped = [
            (job.pk, Message.Status.DROPPED, reason, None, [*job.decisions, _record(at, "drop", reason)], now)  # noqa: E501
            for job, reason in verdict.drop
        ]  # fmt: skip
        rows.update(
            TABLE,
            ("status", "reason", "ready_at", "decisions", "changed_at"),
            dropped,
            json_columns={"decisions"},
        )
        failed = [
            (job.pk, Message.Status.FAILED, error[:500], None, now) for job, error in verdict.fail
        ]
        rows.update(TABLE, ("status", "error", "ready_at", "changed_at"), failed)
        if failed:
            changes.happened(changes.FAILED, [row[0] for row in failed], now)

    # -- 2. send -----------------------------------------------------------------------------

    def send(self, jobs: Sequence[Job]) -> list[Outcome]:
        transports = self.transports
        # Sending threads never touch the database (not even for the time).
        start, origin = self.clock.now(), time.monotonic()
        # Whatever is not handed over well within the lease goes back to the queue untouched.
        deadline = origin + self.lease.total_seconds() * 0.8

        def one(job: Job) -> Outcome:
            elapsed = time.monotonic() - origin
            return self.send_one(job, transports, start + timedelta(seconds=elapsed), deadline)

        try:
            if self.threads == 1 or len(jobs) == 1:
                return [one(job) for job in jobs]
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="dispatch")
            return list(self._pool.map(one, jobs))
        finally:
            if self.keep:
                transports.close_idle()
            else:
                self.close()

    def send_one(
        self, job: Job, transports: Transports, started: datetime, deadline: float
    ) -> Outcome:
        outcome = Outcome(job, started)
        if time.monotonic() > deadline:
            outcome.released = True
            return outcome
        assert job.outgoing is not None
        try:
            outcome.receipt = transports.get(job).send(job.outgoing)
        except TransportError as exc:
            outcome.error = exc
        except Exception as exc:
            # Our own bug, or a provider's answer nobody foresaw, possibly after it took the
            # message: never guess, never send again.
            logger.exception("%s failed unexpectedly on message %s", job.transport_key, job.pk)
            outcome.unexpected = f"{type(exc).__name__}: {exc}"
        return outcome

    # -- 3. record ---------------------------------------------------------------------------

    def record(self, outcomes: Sequence[Outcome], token: str) -> None:
        now = self.clock.now()
        updates: list[tuple[Any, ...]] = []
        attempts: list[Attempt] = []
        for outcome in outcomes:
            job = outcome.job
            if outcome.released:
                updates.append(
                    (job.pk, Message.Status.QUEUED, None, "", job.attempts, None, now, "", now)
                )
                continue
            number = job.attempts + 1
            status, ready, error, kind = self.judge(outcome, number, now)
            reference = outcome.receipt.provider_ref[:100] if outcome.receipt else ""
            sent_at = now if outcome.receipt else None
            updates.append(
                (job.pk, status, sent_at, reference, number, None, ready, error[:500], now)
            )
            attempts.append(self.attempt(outcome, number, kind, error, now))
        with transaction.atomic():
            # Ours even if another worker has meanwhile called it uncertain: we know better.
            rows.update(
                TABLE,
                _RECORD,
                updates,
                where="t.claimed_by = %s AND t.status IN ('sending', 'uncertain')",
                params=[token],
            )
            rows.insert(attempts)
            for kind, status in (
                (changes.SENT, Message.Status.SENT),
                (changes.FAILED, Message.Status.FAILED),
            ):
                ids = [update[0] for update in updates if update[1] == status]
                if ids:
                    changes.happened(kind, ids, now)
        self.audit_blocked(outcomes)

    def audit_blocked(self, outcomes: Sequence[Outcome]) -> None:
        """The audit entries for providers the outbound guard refused to call, written here
        rather than where the refusal happened: sending threads never touch the database. A
        batch through one such provider is one attempt, not one per message."""
        seen: set[tuple[str, int, str]] = set()
        for outcome in outcomes:
            blocked = outcome.error.blocked if outcome.error is not None else None
            if blocked is None or (blocked.host, blocked.port, blocked.reason) in seen:
                continue
            seen.add((blocked.host, blocked.port, blocked.reason))
            job = outcome.job
            record_blocked(blocked, via="sending", provider=job.provider, message_id=job.pk)

    def judge(
        self, outcome: Outcome, number: int, now: datetime
    ) -> tuple[str, datetime | None, str, str]:
        """(status, ready_at, error, attempt outcome) for one hand-off."""
        if outcome.receipt is not None:
            return Message.Status.SENT, None, "", Attempt.Outcome.SENT
        if outcome.unexpected:
            return Message.Status.UNCERTAIN, None, outcome.unexpected, Attempt.Outcome.UNCERTAIN
        error = outcome.error
        assert error is not None
        if error.uncertain:
            return Message.Status.UNCERTAIN, None, str(error), Attempt.Outcome.UNCERTAIN
        if not error.permanent and number < self.max_attempts:
            return Message.Status.QUEUED, now + backoff(number), str(error), "transient"
        kind = Attempt.Outcome.PERMANENT if error.permanent else Attempt.Outcome.TRANSIENT
        return Message.Status.FAILED, None, str(error), kind

    def attempt(
        self, outcome: Outcome, number: int, kind: str, error: str, now: datetime
    ) -> Attempt:
        job = outcome.job
        answer = outcome.receipt.answer if outcome.receipt else ""
        if outcome.error is not None:
            answer = outcome.error.answer
        return Attempt(
            message_id=job.pk,
            number=number,
            provider_id=job.provider.pk if job.provider else None,
            transport=job.transport_key,
            started_at=outcome.started,
            finished_at=now,
            outcome=kind,
            code=(outcome.error.code if outcome.error else "")[:64],
            error=error[:500],
            answer=answer[:2000],
        )

    # -- lost leases -------------------------------------------------------------------------

    def expire(self) -> int:
        """Messages whose worker vanished while sending them: ``uncertain``, never re-sent."""
        now = self.clock.now()
        with transaction.atomic():
            lost = rows.fetch(
                f"UPDATE {TABLE} SET status = 'uncertain', lease_until = NULL, "  # noqa: S608
                "attempts = attempts + 1, error = %s, changed_at = %s "
                "WHERE status = 'sending' AND lease_until < %s "
                "RETURNING id, attempts, provider_id, transport",
                [
                    "worker stopped before recording the provider's answer",
                    rows.to_db_time(now),
                    rows.to_db_time(now),
                ],
            )
            rows.insert(
                [
                    Attempt(
                        message_id=pk,
                        number=number,
                        provider_id=provider_id,
                        transport=transport,
                        started_at=now - self.lease,
                        finished_at=now,
                        outcome=Attempt.Outcome.UNCERTAIN,
                        error="lease expired: the provider may or may not have the message",
                    )
                    for pk, number, provider_id, transport in lost
                ]
            )
        if lost:
            logger.warning("%d message(s) uncertain: their worker stopped mid-send", len(lost))
        return len(lost)


def _record(at: str, action: str, reason: str, until: datetime | None = None) -> dict[str, str]:
    record = {"at": at, "action": action, "reason": reason, "by": "dispatch"}
    if until is not None:
        record["until"] = until.isoformat()
    return record


def run_until_idle(clock: Clock | None = None, **options: Any) -> int:
    """Dispatch until nothing is ready (tests, simulation, ``huifang engine --once``)."""
    return Dispatcher(clock, **{"keep": True, **options}).run_until_idle()


def loop(stop: threading.Event, clock: Clock | None = None) -> None:
    """The worker's dispatch loop: full batches back to back, otherwise a short nap."""
    dispatcher = Dispatcher(clock, keep=True)
    pause = settings.HUIFANG_ENGINE_POLL_MS / 1000
    while not stop.is_set():
        try:
            done = dispatcher.run_once()
        except Exception:
            logger.exception("dispatch batch failed; its messages are checked after the lease")
            close_old_connections()
            done = 0
            stop.wait(1)
        if done < dispatcher.limit:
            dispatcher.transports.close_idle()
            stop.wait(pause)
    dispatcher.close()
    close_old_connections()
    connection.close()
