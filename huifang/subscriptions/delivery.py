"""Deliveries out to their subscriptions: claimed with a lease, signed, sent through the
outbound guard, retried with back-off.

1. **Claim** (one short transaction): due deliveries (``pending``, or ``failed`` and due for
   another try) are picked — ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, SQLite's write lock
   serialises claimers — and marked ``delivering`` with this worker's token and a lease, by a
   conditional ``UPDATE``: two workers never hold the same delivery.
2. **Send**, outside any transaction: the envelope (``Delivery.body``) as JSON, signed as the
   webhook channel signs (``integrations.webhook.transport.sign``: ``X-Huifang-Timestamp``,
   ``X-Huifang-Signature``), through ``integrations.http`` (SSRF guard and allow-list, no
   redirects, a time-out).
3. **Record** by the same token: a 2xx answer is ``delivered``; anything else — another
   status, a time-out, a refused connection, an address the guard refuses — is ``failed`` and
   due again after ``BACKOFF``, until ``MAX_ATTEMPTS`` or ``MAX_AGE`` (then ``given_up``).

A delivery still ``delivering`` when its lease ends (its worker died mid-send) is due again:
subscriptions are *at least once*, and each delivery carries its event's stable id
(``X-Huifang-Event-Id``) so a receiver can ignore one it has seen.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import close_old_connections, transaction
from django.db.models import F
from django.http import HttpRequest

from huifang.core.clock import Clock, DatabaseClock, worker_name
from huifang.integrations.http import BlockedURL, NetworkError, Response, request
from huifang.integrations.outbound import record_blocked
from huifang.integrations.secrets import UnreadableSecrets
from huifang.integrations.webhook.transport import sign

from .events import TEST
from .models import Delivery

logger = logging.getLogger("huifang.subscriptions")

# After the n-th failed attempt the next one is due BACKOFF[n - 1] later: 1 min, 5 min,
# 30 min, 2 h, 6 h, 12 h, 24 h, 24 h — a receiver's bad hour passes unnoticed, a bad day is
# retried for three days, not hammered.
BACKOFF = tuple(timedelta(seconds=s) for s in (60, 300, 1800, 7200, 21600, 43200, 86400, 86400))
MAX_ATTEMPTS = len(BACKOFF) + 1
MAX_AGE = timedelta(days=3)  # a delivery older than this is not tried again
LEASE = timedelta(minutes=2)
TIMEOUT = 10.0  # seconds for one request
BATCH = 10
POLL_SECONDS = 2.0
EXCERPT = 500  # characters of the receiver's answer kept
WAITING = (Delivery.Status.PENDING, Delivery.Status.FAILED)


def backoff(attempt: int) -> timedelta:
    return BACKOFF[min(attempt, len(BACKOFF)) - 1]


@dataclass(frozen=True)
class Result:
    ok: bool
    status: int | None = None
    answer: str = ""
    error: str = ""
    duration_ms: int = 0


def signed(delivery: Delivery, secret: str, moment: int) -> tuple[bytes, dict[str, str]]:
    """The body and headers of ``delivery``, signed with ``secret`` at ``moment``."""
    body = json.dumps(delivery.body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "X-Huifang-Timestamp": str(moment),
        "X-Huifang-Signature": sign(secret, moment, body),
        "X-Huifang-Event": delivery.event_type,
        "X-Huifang-Event-Id": str(delivery.event_id),
        "X-Huifang-Delivery": str(delivery.pk),
    }
    return body, headers


def send(
    delivery: Delivery,
    *,
    timeout: float = TIMEOUT,
    via: str = "subscription",
    asked: HttpRequest | None = None,
) -> Result:
    """POST one delivery; never raises for the receiver's or the network's trouble. The
    timestamp is this machine's wall clock, as the receiver compares it with its own."""
    subscription = delivery.subscription
    started = time.monotonic()
    try:
        body, headers = signed(delivery, subscription.secret(), int(time.time()))
        answer: Response = request(
            "POST", subscription.url, body=body, headers=headers, timeout=timeout
        )
    except UnreadableSecrets:
        return Result(False, error="the signing secret cannot be read: enter it again")
    except BlockedURL as exc:
        if exc.blocked is not None:
            record_blocked(exc.blocked, via=via, request=asked)
        return Result(False, error=str(exc)[:500])
    except NetworkError as exc:
        return Result(False, error=str(exc)[:500], duration_ms=_since(started))
    return Result(
        200 <= answer.status < 300,
        answer.status,
        answer.text()[:EXCERPT],
        "" if 200 <= answer.status < 300 else f"HTTP {answer.status}",
        _since(started),
    )


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


class Deliverer:
    def __init__(
        self,
        clock: Clock | None = None,
        *,
        limit: int = BATCH,
        lease: timedelta = LEASE,
        timeout: float = TIMEOUT,
    ) -> None:
        self.clock = clock or DatabaseClock()
        self.limit = limit
        self.lease = lease
        self.timeout = timeout

    def run_once(self) -> int:
        """Take back lost leases, then claim, send and record one batch; returns its size."""
        self.expire()
        token = f"{worker_name()}:{secrets.token_hex(4)}"
        claimed = self.claim(token)
        deadline = time.monotonic() + self.lease.total_seconds() * 0.8
        for delivery in claimed:
            if time.monotonic() > deadline:
                self.release(delivery, token)  # not sent: back to the queue untouched
                continue
            self.record(delivery, send(delivery, timeout=self.timeout), token)
        return len(claimed)

    def run_until_idle(self) -> int:
        total = 0
        while done := self.run_once():
            total += done
        return total

    def claim(self, token: str) -> list[Delivery]:
        with transaction.atomic():
            now = self.clock.now()
            due = (
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(status__in=WAITING, next_attempt_at__lte=now)
                .order_by("next_attempt_at", "id")
                .values_list("id", flat=True)[: self.limit]
            )
            ids = list(due)
            if not ids:
                return []
            Delivery.objects.filter(pk__in=ids, status__in=WAITING).update(
                status=Delivery.Status.DELIVERING, lease_until=now + self.lease, claimed_by=token
            )
        return list(
            Delivery.objects.filter(claimed_by=token, status=Delivery.Status.DELIVERING)
            .select_related("subscription")
            .order_by("next_attempt_at", "id")
        )

    def judge(self, delivery: Delivery, result: Result, now: datetime) -> dict[str, object]:
        attempt = delivery.attempts + 1
        changes: dict[str, object] = {
            "attempts": attempt,
            "last_status": result.status,
            "last_response": result.answer,
            "last_duration_ms": result.duration_ms,
            "last_error": result.error[:500],
            "last_attempt_at": now,
            "lease_until": None,
            "claimed_by": "",
        }
        if result.ok:
            return changes | {
                "status": Delivery.Status.DELIVERED,
                "delivered_at": now,
                "next_attempt_at": None,
            }
        retry = now + backoff(attempt)
        if (
            delivery.event_type == TEST
            or attempt >= MAX_ATTEMPTS
            or retry - delivery.created_at > MAX_AGE
        ):
            return changes | {"status": Delivery.Status.GIVEN_UP, "next_attempt_at": None}
        return changes | {"status": Delivery.Status.FAILED, "next_attempt_at": retry}

    def record(self, delivery: Delivery, result: Result, token: str) -> bool:
        """Store the outcome, if the delivery is still ours (a lease taken back by another
        worker is theirs now); returns whether it was."""
        changes = self.judge(delivery, result, self.clock.now())
        mine = Delivery.objects.filter(
            pk=delivery.pk, claimed_by=token, status=Delivery.Status.DELIVERING
        )
        written = mine.update(**changes) == 1
        if written:
            for name, value in changes.items():
                setattr(delivery, name, value)
        return written

    def release(self, delivery: Delivery, token: str) -> None:
        Delivery.objects.filter(
            pk=delivery.pk, claimed_by=token, status=Delivery.Status.DELIVERING
        ).update(
            status=Delivery.Status.FAILED if delivery.attempts else Delivery.Status.PENDING,
            lease_until=None,
            claimed_by="",
        )

    def expire(self) -> int:
        """Deliveries whose worker stopped while sending: counted as a failed attempt and
        due at once (the receiver may have had it: the event id tells)."""
        now = self.clock.now()
        lost = Delivery.objects.filter(status=Delivery.Status.DELIVERING, lease_until__lt=now)
        count = lost.update(
            status=Delivery.Status.FAILED,
            attempts=F("attempts") + 1,
            next_attempt_at=now,
            lease_until=None,
            claimed_by="",
            last_error="the worker stopped before recording the answer",
            last_attempt_at=now,
        )
        if count:
            logger.warning("%d subscription deliveries taken back from a stopped worker", count)
        return count


def send_now(delivery: Delivery, *, request: HttpRequest | None = None) -> Delivery:
    """Send one pending delivery at once (the page's test), through the same claim and
    record as the worker: it is never sent twice."""
    deliverer = Deliverer()
    token = f"{worker_name()}:{secrets.token_hex(4)}"
    now = deliverer.clock.now()
    taken = Delivery.objects.filter(
        pk=delivery.pk, status=Delivery.Status.PENDING, claimed_by=""
    ).update(status=Delivery.Status.DELIVERING, lease_until=now + deliverer.lease, claimed_by=token)
    delivery.refresh_from_db()
    if taken:
        result = send(delivery, timeout=deliverer.timeout, via="send test", asked=request)
        deliverer.record(delivery, result, token)
    return delivery


def run_until_idle(clock: Clock | None = None) -> int:
    """Deliver until nothing is due (tests, ``huifang subscriptions deliver --once``)."""
    return Deliverer(clock).run_until_idle()


def loop(stop: threading.Event, clock: Clock | None = None) -> None:
    """The worker's delivery loop: full batches back to back, otherwise a short nap."""
    deliverer = Deliverer(clock)
    while not stop.is_set():
        try:
            done = deliverer.run_once()
        except Exception:
            logger.exception("subscription delivery batch failed; it is tried after the lease")
            close_old_connections()
            done = 0
        if done < deliverer.limit:
            stop.wait(POLL_SECONDS)
    close_old_connections()
