"""Signing as a sending system does, and posting to a source's real endpoint."""

from __future__ import annotations

import json
import time
from typing import Any

from django.test import Client

from huifang.integrations.webhook.transport import sign
from huifang.sources.models import Source


def body_of(payload: Any) -> bytes:
    return (
        payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    )


def push(
    client: Client,
    source: Source,
    payload: Any,
    *,
    secret: str | None = None,
    at: float | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """POST ``payload`` to the source's URL, signed with its secret (or ``secret``) at ``at``."""
    body = body_of(payload)
    timestamp = int(time.time() if at is None else at)
    signed = {
        "X-Huifang-Timestamp": str(timestamp),
        "X-Huifang-Signature": sign(
            secret if secret is not None else source.secret, timestamp, body
        ),
    }
    return client.post(
        f"/hooks/{source.slug}/",
        body,
        content_type="application/json",
        headers=signed if headers is None else headers,
    )
