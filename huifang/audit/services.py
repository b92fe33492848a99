"""Writing to the audit log and checking its chain.

``record`` is the one way an entry is written: inside the caller's transaction when there is
one (an entry for a change that is rolled back disappears with it), on its own otherwise (a
failed sign-in). ``record_once`` writes through it, at most once a period for the same key
(for what can repeat fast). ``verify`` walks the chain and names the first entry that does not
match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from huifang.core.requests import client_ip

from .models import GENESIS, Entry, Head

Action = Entry.Action


def actor_of(user: Any) -> tuple[int | None, str]:
    """(user id, name) as entries record them: a member of staff by user name, anything else
    that acts (an API token) by its ``audit_name``."""
    if user is None:
        return None, ""
    if hasattr(user, "audit_name"):
        return None, str(user.audit_name)
    if not getattr(user, "is_authenticated", False):
        return None, ""
    return user.pk, user.get_username()


def record(
    action: str,
    verb: str = "",
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
    target: models.Model | None = None,
    object_type: str = "",
    object_id: Any = "",
    object_repr: str = "",
    details: dict[str, Any] | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Entry:
    """Append one entry. ``actor`` defaults to the request's user; ``target`` names the record
    acted on (its type, id and text), or give ``object_type`` / ``object_id`` /
    ``object_repr`` yourself. ``details`` must be JSON: never a secret, never an unmasked
    personal value."""
    if actor is None and request is not None:
        actor = getattr(request, "user", None)
    actor_id, actor_name = actor_of(actor)
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_id = object_id or target.pk
        object_repr = object_repr or str(target)
    with transaction.atomic():
        # The update takes the head's lock (SQLite's write lock, PostgreSQL's row lock) before
        # the head is read: writers queue here and each extends the chain from the last entry.
        _take_head(by=1)
        head = Head.objects.get(pk=1)
        entry = Entry(
            seq=head.seq,
            at=at or timezone.now(),
            actor_id=actor_id,
            actor=actor_name[:150],
            action=action,
            verb=verb[:40],
            object_type=object_type[:40],
            object_id=str(object_id)[:64],
            object_repr=object_repr[:200],
            details=details or {},
            reason=reason[:500],
            ip=(client_ip(request) or None) if request is not None else None,
            previous=head.digest,
        )
        # The stored microseconds are what the hash must cover (PostgreSQL keeps microseconds,
        # and so does SQLite's text).
        entry.digest = entry.compute_digest()
        entry.save()
        Head.objects.filter(pk=1).update(digest=entry.digest)
    return entry


def _take_head(*, by: int) -> None:
    """Take the chain's lock, the head row's, adding ``by`` to its number (0: the lock only).
    Held until the transaction ends."""
    if Head.objects.filter(pk=1).update(seq=F("seq") + by):
        return
    # No head yet (the migration makes one; a flushed test database has none): one writer
    # creates it, the others wait on its key and then queue as usual.
    try:
        with transaction.atomic():
            Head.objects.create(pk=1, seq=0)
    except IntegrityError:
        pass
    Head.objects.filter(pk=1).update(seq=F("seq") + by)


def record_once(
    action: str,
    verb: str = "",
    *,
    key: Mapping[str, str | int],
    within: timedelta,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    **fields: Any,
) -> Entry | None:
    """``record``, unless an entry of ``action`` whose details hold the values of ``key`` was
    written within ``within`` before now: for what can repeat fast and would drown the log
    (a blocked outbound connection tried by every message of a batch). ``None`` when there
    was one. ``key`` goes into the entry's details.

    Checked once without a lock (the usual answer, "there is one", costs one read), then
    again holding the chain's lock, so writers racing with the same key — workers on other
    machines — write one entry between them."""
    now = at or timezone.now()
    same = Entry.objects.filter(
        action=action, at__gt=now - within, **{f"details__{name}": v for name, v in key.items()}
    )
    if same.exists():
        return None
    with transaction.atomic():
        _take_head(by=0)
        if same.exists():
            return None
        return record(action, verb, details={**key, **(details or {})}, at=now, **fields)


@dataclass(frozen=True)
class Broken:
    seq: int
    why: str


def verify(batch: int = 2000) -> tuple[int, Broken | None]:
    """(entries checked, the first broken entry or ``None``). An entry is broken when its hash
    does not cover its content, when it does not point at the entry before it, or when an
    entry is missing (the numbers have a gap) or the head points past the last one."""
    checked = 0
    previous, expected = GENESIS, 1
    for entry in _in_order(batch):
        if entry.seq != expected:
            return checked, Broken(expected, "missing")
        if entry.previous != previous:
            return checked, Broken(entry.seq, "chain")
        if entry.compute_digest() != entry.digest:
            return checked, Broken(entry.seq, "content")
        previous, expected = entry.digest, entry.seq + 1
        checked += 1
    head = Head.objects.filter(pk=1).first()
    if head is not None and (head.seq != checked or head.digest != previous):
        return checked, Broken(checked + 1, "missing")
    return checked, None


def _in_order(batch: int) -> Iterator[Entry]:
    last = 0
    while True:
        page = list(Entry.objects.filter(seq__gt=last).order_by("seq")[:batch])
        if not page:
            return
        yield from page
        last = page[-1].seq
