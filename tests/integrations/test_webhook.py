"""The generic webhook transport against a real local receiver that checks its signature."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from huifang.integrations.base import Outgoing, TransportError
from huifang.integrations.webhook.transport import WebhookTransport, sign, verify
from tests.integrations.fakes import JsonHandler, serve

SECRET = "s3cret-shared-with-the-receiver"
received: list[dict[str, Any]] = []


class Receiver(JsonHandler):
    slow_answers = threading.Event()  # /slow answers only once the test is over

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        stamp, signature = self.headers["X-Huifang-Timestamp"], self.headers["X-Huifang-Signature"]
        if not verify(SECRET, stamp, body, signature):
            return self.answer(401, {"error": "bad signature"})
        received.append({"body": json.loads(body), "message": self.headers["X-Huifang-Message"]})
        if self.path == "/ok":
            return self.answer(200, {"id": "evt_123"})
        if self.path == "/slow":
            Receiver.slow_answers.wait(30)
            return self.answer(200, {})
        status = {"/busy": 503, "/throttled": 429, "/rejected": 422, "/gone": 404}[self.path]
        return self.answer(status, {"error": self.path})


@pytest.fixture
def receiver(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # an admin allowed the local receiver
    received.clear()
    Receiver.slow_answers.clear()
    with serve(Receiver) as url:
        yield url
        Receiver.slow_answers.set()


MESSAGE = Outgoing(42, "webhook", "ops-room", '{"x": 1} 王芳您好', subject="回访")


def test_a_signed_message_is_accepted_and_its_id_kept(receiver: str) -> None:
    receipt = WebhookTransport(receiver + "/ok", SECRET).send(MESSAGE)
    assert receipt.provider_ref == "evt_123"
    assert received == [
        {
            "body": {
                "id": 42,
                "channel": "webhook",
                "to": "ops-room",
                "subject": "回访",
                "body": '{"x": 1} 王芳您好',
                "params": {},
            },
            "message": "42",
        }
    ]


def test_a_wrong_secret_is_refused_by_the_receiver_and_is_permanent(receiver: str) -> None:
    with pytest.raises(TransportError) as error:
        WebhookTransport(receiver + "/ok", "not-the-secret").send(MESSAGE)
    assert (error.value.permanent, error.value.code) == (True, "401")
    assert not received


@pytest.mark.parametrize(
    ("path", "permanent"),
    [("/busy", False), ("/throttled", False), ("/rejected", True), ("/gone", True)],
)
def test_answers_map_to_transient_or_permanent(receiver: str, path: str, permanent: bool) -> None:
    with pytest.raises(TransportError) as error:
        WebhookTransport(receiver + path, SECRET).send(MESSAGE)
    assert error.value.permanent is permanent
    assert path.strip("/") in error.value.answer


def test_a_time_out_is_transient(receiver: str) -> None:
    with pytest.raises(TransportError) as error:
        WebhookTransport(receiver + "/slow", SECRET, timeout=0.5).send(MESSAGE)
    assert (error.value.permanent, error.value.code) == (False, "network")


def test_a_refused_address_is_permanent_and_nothing_is_sent(settings: Any) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = []
    with pytest.raises(TransportError) as error:
        WebhookTransport("http://169.254.169.254/hook", SECRET).send(MESSAGE)
    assert (error.value.permanent, error.value.code) == (True, "blocked_url")


def test_nothing_listens_is_transient(settings: Any) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    with pytest.raises(TransportError) as error:
        WebhookTransport("http://127.0.0.1:9/hook", SECRET, timeout=1).send(MESSAGE)
    assert error.value.permanent is False


def test_verify_refuses_replays_and_tampering() -> None:
    body = b'{"id": 1}'
    now = 1_800_000_000
    signature = sign(SECRET, now, body)
    assert verify(SECRET, str(now), body, signature, now=now + 10)
    assert not verify(SECRET, str(now), body, signature, now=now + 301)  # too old: a replay
    assert not verify(SECRET, str(now), body + b" ", signature, now=now)  # body changed
    assert not verify(SECRET, str(now + 1), body, signature, now=now)  # timestamp changed
    assert not verify(SECRET, "yesterday", body, signature, now=now)
