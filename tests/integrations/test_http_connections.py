"""Outbound HTTP keeps one connection per thread and provider open between messages, notices
when the server closed it meanwhile, verifies TLS against the URL's host while connecting to the
checked address, and tells "never reached" from "went out, no answer" (which is uncertain)."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from huifang.integrations import http as outbound
from huifang.integrations.base import TransportError
from huifang.integrations.http import NetworkError, call, request
from tests.integrations.fakes import closed_by_peer, running, wait_for


class KeepAlive(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; a connection idle for 0.3 s is closed by the server."""

    protocol_version = "HTTP/1.1"
    timeout = 0.3
    connections = 0
    requests = 0
    answering = threading.Event()  # cleared: requests wait for the answer (a slow provider)
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        with KeepAlive.lock:
            KeepAlive.connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with KeepAlive.lock:
            KeepAlive.requests += 1
        KeepAlive.answering.wait(30)
        data = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up waiting is expected here


@pytest.fixture
def server(settings: Any) -> Iterator[tuple[Server, int]]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    KeepAlive.connections = KeepAlive.requests = 0
    KeepAlive.answering.set()
    httpd = Server(("127.0.0.1", 0), KeepAlive)
    with running(httpd):
        yield httpd, httpd.server_address[1]
        KeepAlive.answering.set()


def post(port: int, path: str = "/hook", timeout: float = 5.0) -> int:
    return call("POST", f"http://127.0.0.1:{port}{path}", body=b"{}", timeout=timeout).status


def test_messages_to_one_provider_share_a_kept_connection(server: tuple[Server, int]) -> None:
    _httpd, port = server
    # Each test runs in its own thread: its connections are its own.
    statuses: list[int] = []
    worker = threading.Thread(target=lambda: statuses.extend(post(port) for _ in range(5)))
    worker.start()
    worker.join()
    assert statuses == [200] * 5
    assert (KeepAlive.requests, KeepAlive.connections) == (5, 1)


def test_a_connection_the_server_closed_while_idle_is_replaced_and_nothing_is_lost(
    server: tuple[Server, int],
) -> None:
    _httpd, port = server

    def two_calls_apart() -> None:
        assert post(port) == 200
        (kept,) = outbound._LOCAL.connections.values()
        assert kept.sock is not None
        wait_for(lambda: closed_by_peer(kept.sock))  # the server closes the idle connection
        # Seen before anything is written to it (on a real network the write itself would
        # often succeed, and the request be lost in the closed connection).
        assert kept.sock is not None and outbound._dropped(kept.sock)
        assert post(port) == 200

    worker = threading.Thread(target=two_calls_apart)
    worker.start()
    worker.join()
    assert (KeepAlive.requests, KeepAlive.connections) == (2, 2)


def test_no_answer_in_time_is_uncertain_an_unreachable_server_is_not(
    server: tuple[Server, int],
) -> None:
    _httpd, port = server
    KeepAlive.answering.clear()  # the provider takes the request and does not answer
    with pytest.raises(TransportError) as slow:
        post(port, timeout=0.3)
    assert slow.value.uncertain and not slow.value.permanent
    assert KeepAlive.requests == 1  # it did arrive: the provider may well have acted on it
    with socket_closed() as closed_port, pytest.raises(TransportError) as unreachable:
        post(closed_port)
    assert not unreachable.value.uncertain and not unreachable.value.permanent
    assert unreachable.value.code == "network"


class socket_closed:
    """A local port nobody listens on."""

    def __enter__(self) -> int:
        import socket

        self.probe = socket.socket()
        self.probe.bind(("127.0.0.1", 0))
        return int(self.probe.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.probe.close()


@pytest.fixture
def tls_server(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[int]:
    """An HTTPS server whose certificate names sms.example.test, issued by a CA the client is
    told to trust."""
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("sms.example.test").configure_cert(context)
    httpd = Server(("127.0.0.1", 0), KeepAlive)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    with running(httpd):
        yield httpd.server_address[1]


def local(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def test_tls_goes_to_the_checked_address_and_verifies_the_urls_host(tls_server: int) -> None:
    answer = request(
        "POST", f"https://sms.example.test:{tls_server}/send", body=b"{}", resolver=local
    )
    assert answer.status == 200 and answer.body == b'{"ok": true}'
    with pytest.raises(NetworkError) as wrong_name:
        request("POST", f"https://other.example.test:{tls_server}/send", body=b"", resolver=local)
    assert "certificate" in str(wrong_name.value).lower()
    assert not wrong_name.value.sent
