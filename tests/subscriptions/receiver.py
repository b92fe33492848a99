"""A receiver of subscription deliveries: a real HTTP server on 127.0.0.1 that checks each
request's signature the way docs/subscriptions.md tells receivers to, keeps what it accepted,
and can be told to fail its next requests (a receiver that is down)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from huifang.integrations.webhook.transport import verify as channel_verify
from tests.integrations.fakes import JsonHandler, serve

SECRET = "a-secret-shared-with-the-receiver"


def verify(secret: str, headers: Any, body: bytes, *, window: int = 300) -> bool:
    """The check of docs/subscriptions.md, as a receiver would write it."""
    timestamp = headers.get("X-Huifang-Timestamp", "")
    signature = headers.get("X-Huifang-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > window:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), signature)


@dataclass
class Request:
    verified: bool
    channel_verified: bool  # by the webhook channel's own check: the same scheme
    headers: dict[str, str]
    body: dict[str, Any]
    status: int  # what the receiver answered


@dataclass
class Inbox:
    requests: list[Request] = field(default_factory=list)
    failures: int = 0  # the next this many requests are answered 503
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def accepted(self) -> list[Request]:
        return [r for r in self.requests if r.status == 200]

    def events(self) -> list[str]:
        return [r.body["type"] for r in self.accepted]


inbox = Inbox()


class Receiver(JsonHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        verified = verify(SECRET, self.headers, body)
        with inbox.lock:
            if not verified:
                status = 401
            elif inbox.failures > 0:
                inbox.failures -= 1
                status = 503
            else:
                status = 200
            same = channel_verify(
                SECRET,
                self.headers.get("X-Huifang-Timestamp", ""),
                body,
                self.headers.get("X-Huifang-Signature", ""),
            )
            headers = dict(self.headers)
            inbox.requests.append(Request(verified, same, headers, json.loads(body), status))
        self.answer(status, {"ok": status == 200})


@contextmanager
def receiving() -> Iterator[str]:
    inbox.requests.clear()
    inbox.failures = 0
    with serve(Receiver) as url:
        yield url + "/hooks/huifang"
