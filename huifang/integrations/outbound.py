"""Blocked outbound connections, in the audit log.

The outbound guard (``http.check_host``) refuses a provider, webhook or short link whose host
is, or resolves to, an internal address (DESIGN.md invariant 8). Such a refusal may be a typo —
or someone trying to reach the internal network or a cloud metadata service through Huifang —
so a security administrator sees it in the audit log: host, port, address, which kind of
address, and who asked (the provider, the administrator's send test, the short link's message).

A provider pointed inside fails every message sent through it, and a worker tries whole
batches: one entry per host, port and kind of address an hour (``WINDOW``), whoever asked, on
every worker together (the check is made in the database, under the audit chain's lock).

The guard itself stays free of the database: sending threads never touch it (messaging's
dispatcher), so the callers, who know who asked, record it afterwards.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest

from huifang.audit.models import Entry
from huifang.audit.services import record_once

from .base import Blocked
from .models import Provider

WINDOW = timedelta(hours=1)


def record_blocked(
    blocked: Blocked,
    *,
    via: str,
    provider: Provider | None = None,
    message_id: int | None = None,
    request: HttpRequest | None = None,
    actor: Any = None,
) -> Entry | None:
    """One ``outbound`` entry for ``blocked``, unless one for the same host, port and kind of
    address was written within ``WINDOW`` (then ``None``). ``via``: ``sending`` (the
    dispatcher), ``send test`` (an administrator's test, ``request`` theirs) or ``short link``
    (a customer's click on a link of message ``message_id``). The entry's object is the
    provider that asked, else the message."""
    details: dict[str, Any] = {"address": blocked.address, "via": via}
    names: dict[str, Any] = {}
    if provider is not None:
        details["kind"] = provider.kind
        names["target"] = provider
    if message_id is not None:
        details["message"] = message_id
        if provider is None:
            names.update(
                object_type="messaging.message", object_id=message_id, object_repr=f"#{message_id}"
            )
    return record_once(
        Entry.Action.OUTBOUND,
        "blocked",
        key={"host": blocked.host, "port": blocked.port, "reason": blocked.reason},
        within=WINDOW,
        details=details,
        request=request,
        actor=actor,
        **names,
    )
