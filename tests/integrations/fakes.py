"""Local fake providers: real HTTP servers on 127.0.0.1 that answer like the provider, and a
real SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler`` on a free local port; yields the base URL."""
    httpd = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class Sink:
    """An SMTP server's handler: refuses ``nobody@`` (550) and ``busy@`` (451) recipients and
    subjects with "spam" (554), keeps every other message parsed."""

    def __init__(self, pipelining: bool = True, delay: float = 0.0) -> None:
        self.messages: list[EmailMessage] = []
        self.sessions: set[int] = set()
        self.pipelining = pipelining
        self.delay = delay  # seconds before answering a message

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
        if self.delay:
            await asyncio.sleep(self.delay)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        if "spam" in str(parsed["Subject"]):
            return "554 5.7.1 Message rejected"
        self.sessions.add(id(session))
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted"


@contextmanager
def smtp_sink(
    *, pipelining: bool = True, delay: float = 0.0, timeout: float = 300.0
) -> Iterator[tuple[Sink, int]]:
    """A real SMTP server on a free local port that drops clients idle for ``timeout``
    seconds; yields its handler and the port."""
    handler = Sink(pipelining=pipelining, delay=delay)
    with socket.socket() as probe:  # a free port (aiosmtpd checks readiness on the real one)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port, timeout=timeout)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()
