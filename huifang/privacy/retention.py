"""Keeping raw data no longer than needed: ``HUIFANG_RETENTION_MONTHS`` (0, the default: keep
everything).

Past it, what people wrote or were sent goes and what was counted stays:

- an event keeps its row — type, time, amount and scores, from which the customer's derived
  figures and the reports are computed — and loses the words in its properties (a reply's
  text, an order's address); numbers and codes (a channel, a status, the message a reply
  answers) stay. Consent changes are kept whole: they are the evidence of a decision that
  still holds.
- a message keeps its row (status, times, channel, rule: the delivery figures) and loses its
  subject, body and links; its delivery attempts lose the provider's raw answer.

Idempotent: a second run finds nothing left to purge. Run daily by the scheduler, and by
``huifang privacy purge [--dry-run]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from huifang.customers.models import Event
from huifang.messaging.models import Attempt, Message

from .erasure import codes

CHUNK = 2000
# The evidence of a decision that still holds.
KEPT_EVENTS = ("consent_changed",)
PENDING = ("queued", "sending", "deferred")


@dataclass(frozen=True)
class Purged:
    cutoff: datetime | None
    events: int = 0
    messages: int = 0
    attempts: int = 0


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the month's last day when
    that month is shorter)."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month + 1, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month + 1, day=min(moment.day, 28))


def purge(now: datetime, *, months: int | None = None, dry_run: bool = False) -> Purged:
    """Purge what is older than ``months`` (default: the setting; 0 keeps everything)."""
    months = settings.RETENTION_MONTHS if months is None else months
    if months <= 0:
        return Purged(None)
    cutoff = months_before(now, months)
    messages = (
        Message.objects.filter(created_at__lt=cutoff)
        .exclude(status__in=PENDING)
        .exclude(subject="", body="", links=[])
    )
    attempts = Attempt.objects.filter(started_at__lt=cutoff).exclude(answer="")
    if dry_run:
        return Purged(cutoff, _events(cutoff, write=False), messages.count(), attempts.count())
    with transaction.atomic():
        # The rollups count these rows by their status and times, which do not change: the
        # update keeps their "changed at" so no day is redone for nothing.
        purged_messages = messages.update(subject="", body="", links=[], changed_at=F("changed_at"))
        purged_attempts = attempts.update(answer="")
    return Purged(cutoff, _events(cutoff, write=True), purged_messages, purged_attempts)


def _events(cutoff: datetime, *, write: bool) -> int:
    """Events before ``cutoff`` whose properties hold words, purged (or counted)."""
    old = (
        Event.objects.filter(occurred_at__lt=cutoff)
        .exclude(Q(properties={}) | Q(type__in=KEPT_EVENTS))
        .only("pk", "properties")
        .order_by("pk")
    )
    count, last = 0, 0
    while True:
        page = list(old.filter(pk__gt=last)[:CHUNK])
        if not page:
            return count
        last = page[-1].pk
        changed = [e for e in page if codes(e.properties) != e.properties]
        count += len(changed)
        if write and changed:
            for event in changed:
                event.properties = codes(event.properties)
            with transaction.atomic():
                Event.objects.bulk_update(changed, ["properties"])
