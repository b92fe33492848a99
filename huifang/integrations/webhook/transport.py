"""Generic outbound webhook: each message POSTed as JSON to a URL, signed.

The receiver checks two headers against the shared secret:

- ``X-Huifang-Timestamp``: seconds since the epoch when the request was made;
- ``X-Huifang-Signature``: ``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>``.

``verify`` is the check, with a window (5 minutes) against replays; ``X-Huifang-Message`` names
the message, so a receiver can ignore a repeat. The body::

    {"id": 42, "channel": "webhook", "to": "...", "subject": "...", "body": "...",
     "params": {...}}

A 2xx answer is success (its JSON ``id``, if any, is kept as the provider's id); 408, 425, 429,
5xx, time-outs and connection errors may pass and are transient; any other answer, and a URL
the outbound guard refuses, are permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from huifang.integrations.base import Outgoing, Receipt, TransportError
from huifang.integrations.http import call
from huifang.integrations.kinds import STAFF, Kind

from .forms import WebhookForm

REPLAY_WINDOW_SECONDS = 300
_TRANSIENT = {408, 425, 429}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float | None = None
) -> bool:
    """Whether a request carries our signature and is recent (for receivers, and for the
    signed inbound webhooks Huifang itself accepts)."""
    try:
        moment = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - moment) > REPLAY_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, moment, body), signature or "")


@dataclass
class WebhookTransport:
    url: str
    secret: str
    timeout: float = 10.0
    key: str = "webhook"

    def send(self, outgoing: Outgoing) -> Receipt:
        body = json.dumps(
            {
                "id": outgoing.message_id,
                "channel": outgoing.channel,
                "to": outgoing.to,
                "subject": outgoing.subject,
                "body": outgoing.body,
                "params": dict(outgoing.params),
            },
            ensure_ascii=False,
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Huifang-Timestamp": str(timestamp),
            "X-Huifang-Signature": sign(self.secret, timestamp, body),
            "X-Huifang-Message": str(outgoing.message_id),
        }
        answer = call("POST", self.url, body=body, headers=headers, timeout=self.timeout)
        text = answer.text()[:2000]
        if 200 <= answer.status < 300:
            try:
                reference = json.loads(answer.body or b"{}").get("id")
            except (ValueError, AttributeError):
                reference = None
            return Receipt(str(reference or f"webhook-{outgoing.message_id}"), text)
        transient = answer.status in _TRANSIENT or answer.status >= 500
        raise TransportError(
            f"HTTP {answer.status}", permanent=not transient, code=str(answer.status), answer=text
        )


class Config(BaseModel):
    url: str = Field(min_length=1, max_length=500)
    secret: str = Field(min_length=16, max_length=200)
    timeout: float = Field(10.0, gt=0, le=60)


KIND = Kind(
    key="webhook",
    label=gettext_lazy("Webhook"),
    serves=("sms", "email", "wecom", STAFF),
    config=Config,
    build=lambda config: WebhookTransport(**config.model_dump()),
    secrets=("secret",),
    form=WebhookForm,
    description=gettext_lazy(
        "POSTs each message as signed JSON to a URL of yours, for systems that send it on."
    ),
)
