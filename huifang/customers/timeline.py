"""A customer's follow-up history, as the customer page shows it under "Follow-ups".

Each app that does something to a customer tells its part: the engine the plans they were
enrolled in and why, messaging every gate decision on their messages and where each message
stands, tasks the follow-up tasks. They register a source here in their ``AppConfig.ready()``
(customers never import them); ``follow_ups`` merges the sources, newest first. A new app
(questionnaires, imports …) adds its part the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from huifang.core.hooks import Hook
from huifang.core.registry import Registry

from .models import Customer, Event

LIMIT = 50


@dataclass
class Entry:
    at: datetime
    kind: str  # enrolled | ended | sent | deferred | dropped | message | task
    title: str
    detail: str = ""
    local: str = ""  # the moment on the customer's own clock, when it differs from the viewer's
    until: datetime | None = None
    url: str = ""  # the page it is about: the message's in the message log, the task's
    link_label: str = ""  # the link's words; "Message details" when empty
    status: str = ""  # a message's status, for its badge
    label: str = ""


@dataclass(frozen=True)
class Source:
    key: str
    entries: Callable[[Customer, int], list[Entry]]  # (customer, limit) -> newest first


sources: Registry[Source] = Registry("timeline sources")

# ``(viewer, events)``: an app that owns what an event describes hides from the viewer what
# they may not read (tasks: the notes of another team's follow-up), in place, before the events
# are shown.
redact: Hook[Callable[[Any, list[Event]], None]] = Hook("timeline redaction")


def follow_ups(customer: Customer, *, limit: int = LIMIT) -> list[Entry]:
    """The newest ``limit`` entries of every source, newest first."""
    entries = [entry for source in sources for entry in source.entries(customer, limit)]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:limit]
