"""E-mail over SMTP against a real local SMTP server (aiosmtpd) that records what it gets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from huifang.integrations.base import Outgoing, TransportError
from huifang.integrations.email.transport import EmailTransport


class Sink:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.sessions: set[int] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user"
        if address.startswith("busy@"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        if "spam" in str(parsed["Subject"]):
            return "554 5.7.1 Message rejected"
        self.sessions.add(id(session))
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted"


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler = Sink()
    with socket.socket() as probe:  # a free port (aiosmtpd checks readiness on the real one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def transport(port: int) -> EmailTransport:
    return EmailTransport(
        "127.0.0.1", port, security="none", sender="hi@shop.example.cn", sender_name="回访中心"
    )


def mail(n: int, to: str = "wangfang@example.com", subject: str = "回访：使用体验") -> Outgoing:
    return Outgoing(
        n,
        "email",
        to,
        "王芳您好，\n您购买的<空气净化器>用得怎么样？<script>alert(1)</script>",
        subject=subject,
        headers={
            "List-Unsubscribe": f"<https://hf.example.cn/u/token-{n}/>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def test_a_batch_goes_over_one_connection_with_text_html_and_unsubscribe_headers(
    sink: tuple[Sink, int],
) -> None:
    handler, port = sink
    with transport(port) as smtp:
        receipts = [smtp.send(mail(n)) for n in range(3)]
    assert len(handler.messages) == 3
    assert len(handler.sessions) == 1  # one connection for the batch
    first = handler.messages[0]
    assert receipts[0].provider_ref == str(first["Message-ID"]).strip()  # however it was folded
    assert first["Subject"] == "回访：使用体验"
    assert "回访中心" in str(first["From"])
    assert first["List-Unsubscribe"] == "<https://hf.example.cn/u/token-0/>"
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = first.get_body(("plain",))
    html = first.get_body(("html",))
    assert text is not None and html is not None
    assert "<script>" in text.get_content()
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content() and "<br>" in html.get_content()


@pytest.mark.parametrize(("to", "permanent"), [("nobody@x.cn", True), ("busy@x.cn", False)])
def test_refused_recipients_are_permanent_or_transient_and_the_batch_goes_on(
    sink: tuple[Sink, int], to: str, permanent: bool
) -> None:
    handler, port = sink
    with transport(port) as smtp:
        with pytest.raises(TransportError) as error:
            smtp.send(mail(1, to=to))
        assert error.value.permanent is permanent
        smtp.send(mail(2))
    assert len(handler.messages) == 1
    assert len(handler.sessions) == 1


def test_a_rejected_message_is_permanent(sink: tuple[Sink, int]) -> None:
    _handler, port = sink
    with pytest.raises(TransportError) as error:
        transport(port).send(mail(1, subject="spam spam"))
    assert (error.value.permanent, error.value.code) == (True, "554")


def test_no_server_is_transient() -> None:
    with pytest.raises(TransportError) as error:
        EmailTransport("127.0.0.1", 9, security="none", sender="a@b.cn", timeout=2).send(mail(1))
    assert (error.value.permanent, error.value.code) == (False, "network")
