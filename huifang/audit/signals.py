"""Entries for what Django itself does: sign-in, failed sign-in, sign-out, and every change
made in the admin (its own ``LogEntry`` rows, copied into the chain)."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save

from .models import Entry
from .services import record

_ADMIN_VERBS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


def signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record(Entry.Action.SIGN_IN, actor=user, request=request, target=user)


def signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        record(Entry.Action.SIGN_OUT, actor=user, request=request, target=user)


def sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Django has already masked the password in ``credentials``; only the name is kept.
    name = str(credentials.get("username", ""))[:150]
    record(
        Entry.Action.SIGN_IN_FAILED,
        actor=None,
        request=request,
        object_type="auth.user",
        object_repr=name,
        details={"username": name},
    )


def admin_change(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    kind = instance.content_type
    model = kind.model_class() if kind is not None else None
    # A model whose rows are people (a customer) is named by number: the log is append-only,
    # and a name copied into it could never be erased.
    by_number = getattr(model, "audit_by_number", False)
    record(
        Entry.Action.ADMIN,
        _ADMIN_VERBS.get(instance.action_flag, "changed"),
        actor=instance.user,
        object_type=f"{kind.app_label}.{kind.model}" if kind is not None else "",
        object_id=instance.object_id or "",
        object_repr=f"#{instance.object_id}" if by_number else instance.object_repr,
        details={"change": instance.get_change_message()[:500]},
    )


def connect() -> None:
    user_logged_in.connect(signed_in, dispatch_uid="audit.signed_in")
    user_logged_out.connect(signed_out, dispatch_uid="audit.signed_out")
    user_login_failed.connect(sign_in_failed, dispatch_uid="audit.sign_in_failed")
    post_save.connect(admin_change, sender=LogEntry, dispatch_uid="audit.admin_change")
