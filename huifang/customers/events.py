"""The one way an event enters Huifang: ``record_events``.

Whoever stores an event — the API and imports, a reply or a receipt, a click, a consent change,
an agent's outcome — calls ``record_events``. It stores the rows, recomputes the customers'
derived figures from them, and tells every listener in the caller's transaction, so the engine's
triggers, exits and replies take effect the moment the events are committed.

Apps above this one (the engine) register their listener in their ``AppConfig.ready()``; an app
never imports the engine to notify it (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from huifang.core.hooks import Hook

from . import derived
from .event_scores import read_scores
from .event_types import event_types
from .models import Event

# listener(events, now), called after the events are stored, in the same transaction.
recorded: Hook[Callable[[Sequence[Event], datetime], object]] = Hook("events recorded")


def record_events(
    events: Sequence[Event],
    *,
    now: datetime | None = None,
    refresh: bool = True,
    notify: bool = True,
) -> list[Event]:
    """Store new (unsaved) events, refresh their customers' derived figures, notify the
    listeners; returns the stored events. ``refresh=False`` when the caller has just refreshed
    the same customers itself; ``notify=False`` for history brought in that must start no
    follow-up (an import of last year's orders, with its "start follow-ups" left off). A
    survey score in an event's properties fills its column (``event_scores``); one off its
    scale raises ``ScoreInvalid`` and nothing is stored."""
    now = now or timezone.now()
    stored = Event.objects.bulk_create([_scored(event) for event in events], batch_size=500)
    if not stored:
        return stored
    if refresh:
        derived.refresh({event.customer_id for event in stored}, now=now)
    if notify:
        recorded(stored, now)
    return stored


def _scored(event: Event) -> Event:
    """The event with the survey scores of its properties in their columns, where the caller
    left them empty; ``ScoreInvalid`` (before anything is stored) for one off its scale."""
    entry = event_types.get(event.type)
    if entry is None or not entry.has_score:
        return event
    for column, value in read_scores(event.properties or {}).items():
        if getattr(event, column) is None:
            setattr(event, column, value)
    return event


def record_event(
    customer_id: int,
    type: str,
    *,
    now: datetime | None = None,
    occurred_at: datetime | None = None,
    source: str = Event.Source.SYSTEM,
    properties: dict[str, Any] | None = None,
    refresh: bool = True,
    **fields: Any,
) -> Event:
    """One event (see ``record_events``)."""
    now = now or timezone.now()
    event = Event(
        customer_id=customer_id,
        type=type,
        occurred_at=occurred_at or now,
        source=source,
        properties=properties or {},
        **fields,
    )
    return record_events([event], now=now, refresh=refresh)[0]
