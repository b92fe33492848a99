"""Undoing an import of events: the events it added go — with the plans they started, unless
one has sent a message or opened a task since —, the figures of the customers touched are
computed again, and the customers it added go unless something is theirs now."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.customers import derived
from huifang.customers.models import Customer, Event
from huifang.engine.lifecycle import discard
from huifang.engine.models import Enrollment
from huifang.messaging.models import Message
from huifang.tasks.models import Task

from .event_rows import CHUNK
from .models import Change, Import, ImportedEvent


@dataclass
class Undone:
    """What undo did: events ``removed``, customers this import added and ``restored`` to
    not being there (removed), rows ``kept`` and why."""

    removed: int = 0
    restored: int = 0
    kept: list[int] = field(default_factory=list)
    reasons: dict[int, str] = field(default_factory=dict)


@transaction.atomic
def take_back(batch: Import, now: datetime) -> Undone:
    """Remove the events the import added — except one whose follow-up has sent a message or
    opened a task since (that stays, with the reason) — with the plans they started, which
    did nothing yet; recompute the figures of the customers touched; remove the customers it
    added that have nothing left. Chunk by chunk, in one transaction."""
    result = Undone()
    touched: set[int] = set()
    last = 0
    while True:
        rows = list(
            ImportedEvent.objects.filter(batch=batch, pk__gt=last, event__isnull=False)
            .order_by("pk")
            .values_list("pk", "event_id", "customer_id", "row")[:CHUNK]
        )
        if not rows:
            break
        last = rows[-1][0]
        events = [event for _pk, event, _customer, _row in rows]
        acting = _acted(events)
        for _pk, event, _customer, row in rows:
            if event in acting:
                result.kept.append(row)
                result.reasons[row] = _(
                    "A follow-up this event started has sent a message or opened a task since; "
                    "the event stays."
                )
        gone = {event for event in events if event not in acting}
        # Their plans have done nothing anyone saw: they go with them.
        discard(list(Enrollment.objects.filter(event_id__in=gone).values_list("pk", flat=True)))
        ImportedEvent.objects.filter(pk__in=[r[0] for r in rows if r[1] in gone]).delete()
        Event.objects.filter(pk__in=gone).delete()
        result.removed += len(gone)
        touched |= {customer for _pk, _e, customer, _row in rows if customer is not None}
    _refigure(touched, now)
    result.restored = _remove_customers(batch)
    return result


def _acted(events: list[int]) -> set[int]:
    """The events whose plans have done something a customer or a colleague saw."""
    return set(
        Enrollment.objects.filter(event_id__in=events)
        .filter(
            Exists(Message.objects.filter(enrollment_id=OuterRef("pk")))
            | Exists(Task.objects.filter(enrollment_id=OuterRef("pk")))
        )
        .values_list("event_id", flat=True)
    )


def _refigure(customers: set[int], now: datetime) -> None:
    """The customers' figures from the events they have left; one with none left has the
    figures of a customer without events (``derived`` only updates customers with some)."""
    derived.refresh(customers, now=now)
    blank = {
        name: Customer._meta.get_field(name).get_default()  # type: ignore[union-attr]
        for name in derived.FIGURES
    }
    ids = sorted(customers)
    for start in range(0, len(ids), CHUNK):
        Customer.objects.filter(pk__in=ids[start : start + CHUNK]).exclude(
            Exists(Event.objects.filter(customer_id=OuterRef("pk")))
        ).update(**blank)


def _remove_customers(batch: Import) -> int:
    """The customers the import added, unless something is theirs now (an event, a message,
    a task, a plan): those stay."""
    made = list(
        Change.objects.filter(batch=batch, created=True, customer__isnull=False).values_list(
            "customer_id", flat=True
        )
    )
    removed = 0
    for start in range(0, len(made), CHUNK):
        chunk = Customer.objects.filter(pk__in=made[start : start + CHUNK])
        for related in (Event, Message, Task, Enrollment):
            chunk = chunk.exclude(Exists(related.objects.filter(customer_id=OuterRef("pk"))))
        ids = list(chunk.values_list("pk", flat=True))
        Customer.objects.filter(pk__in=ids).delete()
        removed += len(ids)
    return removed


def undo(batch: Import, *, actor: Any = None, now: datetime | None = None) -> Undone:
    """Take an import of events back (``take_back``), once, audited."""
    now = now or timezone.now()
    with transaction.atomic():
        batch = Import.objects.select_for_update().defer("data").get(pk=batch.pk)
        if batch.status == Import.Status.UNDONE:
            return Undone()
        result = take_back(batch, now)
        batch.status, batch.undone_at = Import.Status.UNDONE, now
        batch.undone_by = actor if getattr(actor, "pk", None) else None
        batch.save(update_fields=["status", "undone_at", "undone_by"])
        record(
            Entry.Action.CUSTOMER,
            "import undone",
            actor=actor,
            target=batch,
            details={
                "events removed": result.removed,
                "customers removed": result.restored,
                "kept": len(result.kept),
            },
            at=now,
        )
    return result
