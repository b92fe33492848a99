"""Side effects on staff accounts, one plain function each (STYLE.md example 8)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .models import Notification


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
