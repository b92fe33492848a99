"""E-mail over SMTP against a real local SMTP server (aiosmtpd) that records what it gets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.utils import translation

from huifang.integrations.base import Outgoing, TransportError
from huifang.integrations.email.transport import EmailTransport
from tests.integrations.fakes import Sink, closed_by_peer, smtp_sink, wait_for


@pytest.fixture(autouse=True)
def local_relay_allowed(settings: Any) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # an admin allowed the local sink


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
def sink(request: pytest.FixtureRequest, settings: Any) -> Iterator[tuple[Sink, int]]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # also for the modules that import it
    with smtp_sink(pipelining=request.param) as served:
        yield served


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
    assert str(first["Message-ID"]) != str(handler.messages[1]["Message-ID"])


def test_long_and_multi_line_headers_are_folded_never_split_into_new_headers(
    sink: tuple[Sink, int],
) -> None:
    handler, port = sink
    subject = "回访：" + "使用体验" * 30 + "\r\nBcc: everyone@example.com"
    with transport(port) as smtp:
        smtp.send(mail(1, subject=subject))
        smtp.send(mail(2, subject="A plain English subject " * 8))
    first, second = handler.messages
    assert first["Bcc"] is None
    assert str(first["Subject"]) == " ".join(subject.splitlines())
    assert str(second["Subject"]) == "A plain English subject " * 8


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


def test_an_internationalised_address_fails_at_once_with_a_clear_error(
    sink: tuple[Sink, int],
) -> None:
    handler, port = sink
    with pytest.raises(TransportError) as error:
        transport(port).send(mail(1, to="王芳@例子.中国"))
    assert error.value.permanent and "ASCII" in str(error.value)
    assert handler.messages == []


def test_a_kept_connection_the_server_dropped_is_replaced_before_anything_is_sent() -> None:
    with smtp_sink(timeout=0.3) as (handler, port), transport(port) as smtp:
        smtp.send(mail(1))
        assert smtp._connection is not None
        kept = smtp._connection.sock
        assert kept is not None
        wait_for(lambda: closed_by_peer(kept))  # the server drops the idle client
        smtp.send(mail(2))
    assert [str(m["Subject"]) for m in handler.messages] == ["回访：使用体验"] * 2
    assert len(handler.sessions) == 2


def test_a_message_whose_answer_never_comes_is_uncertain() -> None:
    with smtp_sink(hold=True) as (_handler, port):
        slow = EmailTransport("127.0.0.1", port, security="none", sender="hi@x.cn", timeout=0.4)
        with pytest.raises(TransportError) as error:
            slow.send(mail(1))
    assert error.value.uncertain and not error.value.permanent


# -- issue 17: SMTP goes through the outbound guard, and its errors scan no ports -----------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "169.254.169.254", "10.0.0.25", "[::1]", "0x7f.1"]
)
def test_an_internal_mail_server_is_refused_before_any_connection(settings: Any, host: str) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = []
    with smtp_sink() as (handler, port):
        smtp = EmailTransport(host.strip("[]"), port, security="none", sender="hi@x.cn")
        with translation.override("en"), pytest.raises(TransportError) as error:
            smtp.send(mail(1))
        assert handler.sessions == set() and handler.messages == []
    assert (error.value.permanent, error.value.code) == (True, "blocked_url")
    assert "OUTBOUND_HTTP_ALLOW" in str(error.value)


def test_an_allowed_relay_is_reached(settings: Any) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.0/8"]
    with smtp_sink() as (handler, port), transport(port) as smtp:
        smtp.send(mail(1))
    assert len(handler.messages) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def listener(answer: bytes) -> Iterator[int]:
    """Something on a port that is not a mail server: it says ``answer`` and hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                peer, _address = server.accept()
            except OSError:
                return
            with peer:
                if answer:
                    peer.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield int(server.getsockname()[1])
    finally:
        server.close()


def test_a_closed_port_and_an_open_one_that_is_not_smtp_look_the_same() -> None:
    errors = []
    with listener(b"-ERR unknown command\r\n") as redis, listener(b"") as silent:
        for port in (closed_port(), redis, silent):
            smtp = EmailTransport("127.0.0.1", port, security="none", sender="a@b.cn", timeout=2)
            with translation.override("en"), pytest.raises(TransportError) as error:
                smtp.send(mail(1))
            errors.append((str(error.value).replace(str(port), "PORT"), error.value.code))
    assert len(set(errors)) == 1, errors
    message, code = errors[0]
    assert code == "network"
    for detail in ("refused", "Errno", "ERR", "closed", "ConnectionRefusedError", "SMTP"):
        assert detail not in message
