"""Side effects on staff accounts, one plain function each (STYLE.md example 8)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from huifang.audit.models import Entry
from huifang.audit.services import record

from .models import Notification, StaffProfile


def notify(*, user: Any, title: str, body: str = "", url: str = "") -> Notification:
    """Put a notification under ``user``'s bell: the one way task assignment, escalations and
    the in-app channel tell a member of staff something.

    ``url`` must be a path on this site (``/customers/42/``); anything else raises
    ``ValidationError``, so a notification can never send its reader to another host.
    """
    notification = Notification(recipient=user, title=title, body=body, url=url)
    # ``objects.create`` would skip the field validators, and the link check is one of them.
    notification.full_clean()
    notification.save()
    return notification


def mark_all_read(*, user: Any) -> int:
    """Mark every unread notification of ``user`` read; returns how many were."""
    return Notification.objects.filter(recipient=user).unread().update(read_at=timezone.now())


def change_password(*, user: Any, password: str, request: HttpRequest) -> None:
    """Set ``user``'s own new password (already checked against the policy by the form).

    This session stays signed in; every other session of ``user`` ends, since Django checks
    each session's copy of the password hash on its next request. The audit log records that
    the password changed, never the password."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        StaffProfile.objects.filter(user=user).update(must_change_password=False)
        record(Entry.Action.STAFF, "password changed", request=request, target=user)
    update_session_auth_hash(request, user)
