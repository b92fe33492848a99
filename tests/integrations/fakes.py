"""Local fake providers: real HTTP servers on 127.0.0.1 that answer like the provider, and a
real SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer
from typing import Any

from aiosmtpd.controller import Controller


class JsonHandler(BaseHTTPRequestHandler):
    def answer(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (a time-out test) is expected, not worth a traceback


def closed_by_peer(sock: socket.socket) -> bool:
    """The other end closed ``sock`` (or wrote to it unasked): it has something to read."""
    readable, _w, _x = select.select([sock], [], [], 0)
    return bool(readable)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail if it does not within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {condition.__doc__ or condition} after {timeout} s")
        time.sleep(0.01)


@contextmanager
def running(httpd: BaseServer) -> Iterator[None]:
    """Serve ``httpd`` in a thread until the block ends. The thread looks for the end every
    20 ms (the standard library's half a second would be added to the teardown of every test
    that uses a local server)."""
    serving = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    serving.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler`` on a free local port; yields the base URL."""
    httpd = _Server(("127.0.0.1", 0), handler)
    with running(httpd):
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


class Sink:
    """An SMTP server's handler: refuses ``nobody@`` (550) and ``busy@`` (451) recipients and
    subjects with "spam" (554), keeps every other message parsed."""

    def __init__(self, pipelining: bool = True, hold: bool = False) -> None:
        self.messages: list[EmailMessage] = []
        self.sessions: set[int] = set()
        self.pipelining = pipelining
        self.hold = hold  # answer a message only once the test is over
        self.released = threading.Event()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        # aiosmtpd reads commands one after another, so it takes pipelined ones as they come.
        return [responses[0], "250-PIPELINING", *responses[1:]] if self.pipelining else responses

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
        if self.hold:
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait, 60)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        if "spam" in str(parsed["Subject"]):
            return "554 5.7.1 Message rejected"
        self.sessions.add(id(session))
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted"


@contextmanager
def smtp_sink(
    *, pipelining: bool = True, hold: bool = False, timeout: float = 300.0
) -> Iterator[tuple[Sink, int]]:
    """A real SMTP server on a free local port that drops clients idle for ``timeout``
    seconds (and with ``hold`` answers no message until it stops); yields its handler and
    the port."""
    handler = Sink(pipelining=pipelining, hold=hold)
    with socket.socket() as probe:  # a free port (aiosmtpd checks readiness on the real one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, timeout=timeout)
    controller.start()
    try:
        yield handler, port
    finally:
        handler.released.set()
        controller.stop()
