"""E-mail over SMTP: one connection per batch, plain text with an HTML alternative.

Every message has the same shape — ``multipart/alternative`` of two base64 UTF-8 parts, with
RFC 2047 encoded headers, all 7-bit — so it is written out directly (the ``email`` package's
``Header`` encodes and folds the headers, ``base64`` the parts) at a tenth of what the
``email`` package's generator spends on the same bytes. Where the server offers PIPELINING
(RFC 2920, as Postfix, Exim and the mail services do), ``MAIL``, ``RCPT`` and ``DATA`` go in
one round trip. Both are what let one worker hand over a thousand mails a second.

The HTML part is the text, escaped (DESIGN.md invariant 7: what customers and staff wrote never
becomes markup), with line breaks kept. ``List-Unsubscribe`` and ``List-Unsubscribe-Post``
come with the message (``Outgoing.headers``) so mail clients offer one-click unsubscribe
(RFC 8058). SMTP answers decide: 4xx and dropped connections are transient, 5xx permanent.
"""

from __future__ import annotations

import base64
import logging
import re
import secrets
import smtplib
import socket
import ssl
from dataclasses import dataclass, field
from email import policy as email_policy
from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from html import escape
from types import TracebackType
from typing import Literal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from huifang.integrations.base import Blocked, Outgoing, Receipt, TransportError
from huifang.integrations.http import BlockedURL, check_host
from huifang.integrations.kinds import Kind

from .forms import EmailForm

logger = logging.getLogger(__name__)

SECURITY = ("none", "starttls", "tls")
CRLF = "\r\n"
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


@dataclass(frozen=True)
class Mail:
    message_id: str
    data: bytes  # CRLF line ends, 7-bit, ready for DATA


def build(outgoing: Outgoing, sender: str, sender_name: str = "") -> Mail:
    """The message as it goes on the wire: headers, then the text and its HTML twin."""
    domain = sender.rpartition("@")[2] or None
    message_id = make_msgid(idstring=f"hf{outgoing.message_id}", domain=domain)
    # "_" never occurs in base64, so the boundary cannot occur inside a part.
    boundary = f"=_hf{outgoing.message_id}_{secrets.token_hex(8)}"
    sender_field = formataddr((sender_name, sender), charset="utf-8") if sender_name else sender
    headers = [
        ("From", sender_field),
        ("To", outgoing.to),
        ("Subject", outgoing.subject),
        ("Date", formatdate()),
        ("Message-ID", message_id),
        *outgoing.headers.items(),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    html = escape(outgoing.body).replace("\n", "<br>\n")
    lines = [_field(name, value) for name, value in headers]
    for subtype, text in (
        ("plain", outgoing.body),
        ("html", f"<!doctype html><html><body>{html}</body></html>"),
    ):
        encoded = base64.encodebytes(text.encode()).decode("ascii").replace("\n", CRLF)
        lines += [
            "",
            f"--{boundary}",
            f'Content-Type: text/{subtype}; charset="utf-8"',
            "Content-Transfer-Encoding: base64",
            "",
            encoded.removesuffix(CRLF),
        ]
    lines += [f"--{boundary}--", ""]
    return Mail(message_id, CRLF.join(lines).encode("ascii"))


@dataclass(frozen=True)
class Inline:
    """An image shown in the HTML part as ``<img src="cid:{cid}">``."""

    cid: str
    data: bytes
    filename: str
    subtype: str = "png"


@dataclass(frozen=True)
class Rich:
    """A message whose HTML the application wrote itself (never text someone typed turned into
    markup: the caller escapes every value it puts in), with inline images."""

    to: str
    subject: str
    text: str
    html: str
    images: tuple[Inline, ...] = ()


def build_rich(rich: Rich, sender: str, sender_name: str = "") -> Mail:
    """``multipart/related`` (the text and HTML alternatives, then the images), written by the
    ``email`` package in 7-bit with CRLF line ends: a few such mails a day need no speed."""
    domain = sender.rpartition("@")[2] or None
    message_id = make_msgid(idstring="hfreport", domain=domain)
    message = EmailMessage(policy=_SMTP7)
    message["From"] = formataddr((sender_name, sender), charset="utf-8") if sender_name else sender
    message["To"] = rich.to
    message["Subject"] = " ".join(rich.subject.splitlines())
    message["Date"] = formatdate()
    message["Message-ID"] = message_id
    message.set_content(rich.text, cte="base64")
    message.add_alternative(rich.html, subtype="html", cte="base64")
    html_part = message.get_body(("html",))
    assert html_part is not None
    for image in rich.images:
        html_part.add_related(
            image.data,
            maintype="image",
            subtype=image.subtype,
            cid=f"<{image.cid}>",
            filename=image.filename,
            disposition="inline",
        )
    return Mail(message_id, message.as_bytes())


_SMTP7 = email_policy.SMTP.clone(cte_type="7bit")


def _field(name: str, value: str) -> str:
    """``Name: value`` on one line or folded; a line break in a value (a subject rendered from
    customer data, say) never starts a header of its own."""
    value = " ".join(value.splitlines())
    if value.isascii() and len(name) + len(value) < 76:
        return f"{name}: {value}"
    charset = "us-ascii" if value.isascii() else "utf-8"
    folded = Header(value, charset, header_name=name).encode(linesep=CRLF)
    return f"{name}: {folded}"


class Unreachable(OSError):
    """No SMTP session could be opened: the address was refused by the outbound guard
    (``permanent``, ``blocked`` for an internal address), or the server did not answer, or
    not as a mail server."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        code: str = "network",
        blocked: Blocked | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent, self.code, self.blocked = permanent, code, blocked


def _error(exc: Exception) -> TransportError:
    if isinstance(exc, Unreachable):
        return TransportError(str(exc), permanent=exc.permanent, code=exc.code, blocked=exc.blocked)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        permanent = all(code >= 500 for code in codes)
        return TransportError(
            f"recipient refused: {exc.recipients}", permanent=permanent, code=str(codes[0])
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else ""
        return TransportError(
            f"SMTP {exc.smtp_code} {text}",
            permanent=exc.smtp_code >= 500,
            code=str(exc.smtp_code),
            answer=text,
        )
    return TransportError(f"{type(exc).__name__}: {exc}", permanent=False, code="network")


@dataclass
class EmailTransport:
    """``with transport:`` keeps one connection open for a batch; ``send`` alone opens one."""

    host: str
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password: str = ""
    sender: str = ""
    sender_name: str = ""
    timeout: float = 15.0
    key: str = "email"
    _connection: smtplib.SMTP | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ValueError(f"security must be one of {SECURITY}")

    def _connect(self) -> smtplib.SMTP:
        connection = self._open()
        if self.security == "starttls":
            connection.starttls(context=ssl.create_default_context())
        if self.username:
            connection.login(self.username, self.password)
        return connection

    def _open(self) -> smtplib.SMTP:
        """A connection to the checked address that a mail server has greeted (DESIGN.md
        invariant 8: the outbound guard, as for HTTP; ``OUTBOUND_HTTP_ALLOW`` allows an
        internal relay). Until the server has greeted us, every failure — refused, timed
        out, closed, not SMTP, not TLS — is the same one error for the admin, so the
        channel's settings cannot be used to scan ports; the detail goes to the server log."""
        try:
            address = check_host(self.host, self.port)
        except BlockedURL as exc:
            raise Unreachable(
                str(exc), permanent=True, code="blocked_url", blocked=exc.blocked
            ) from None
        connection: smtplib.SMTP
        if self.security == "tls":
            connection = _PinnedSMTPSSL(address, self.timeout, ssl.create_default_context())
        else:
            connection = _PinnedSMTP(address, self.timeout)
        try:
            code, greeting = connection.connect(self.host, self.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, greeting)
        except (OSError, smtplib.SMTPException) as exc:
            connection.close()
            logger.info("SMTP %s:%s (%s) not reached: %r", self.host, self.port, address, exc)
            raise Unreachable(
                _("The mail server %(host)s did not answer as a mail server on port %(port)s.")
                % {"host": self.host, "port": self.port}
            ) from None
        return connection

    def __enter__(self) -> EmailTransport:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.quit()
            except (smtplib.SMTPException, OSError):
                self._connection.close()
            self._connection = None

    def send(self, outgoing: Outgoing) -> Receipt:
        to = outgoing.to
        if not to.isascii() or any(c in to for c in "\r\n<>"):
            raise TransportError(
                f"address {to!r} cannot be sent to: only plain ASCII addresses are supported",
                permanent=True,
                code="address",
            )
        return self._hand_over(to, build(outgoing, self.sender, self.sender_name))

    def send_rich(self, rich: Rich) -> Receipt:
        """A message of the application's own markup (a report: an HTML table and inline
        charts) to a member of staff; the same connection, guard and answers as ``send``."""
        if not rich.to.isascii() or any(c in rich.to for c in "\r\n<>"):
            raise TransportError(
                f"address {rich.to!r} cannot be sent to: only plain ASCII addresses are supported",
                permanent=True,
                code="address",
            )
        return self._hand_over(rich.to, build_rich(rich, self.sender, self.sender_name))

    def _hand_over(self, to: str, mail: Mail) -> Receipt:
        for retry in (True, False):
            reused = self._connection is not None
            try:
                if self._connection is None:
                    self._connection = self._connect()
                self._envelope(self._connection, to)
            except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
                # The server answered and the envelope was reset: the connection goes on.
                raise _error(exc) from None
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                self._drop()  # a connection in an unknown state is not used again
                if retry and reused:
                    continue  # the server had closed the kept connection: nothing went out
                raise _error(exc) from None
            break
        assert self._connection is not None
        try:
            self._data(self._connection, mail.data)
        except smtplib.SMTPResponseException as exc:
            raise _error(exc) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # The message went out and its answer never came: the server may have it.
            self._drop()
            error = _error(exc)
            error.uncertain = True
            raise error from None
        return Receipt(mail.message_id)

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _envelope(self, connection: smtplib.SMTP, to: str) -> None:
        """``MAIL``, ``RCPT`` and ``DATA`` answered; what follows is the message itself."""
        connection.ehlo_or_helo_if_needed()
        if not connection.has_extn("pipelining"):
            for command, accepted, refused in (
                (f"MAIL FROM:<{self.sender}>", (250,), smtplib.SMTPSenderRefused),
                (f"RCPT TO:<{to}>", (250, 251), smtplib.SMTPRecipientsRefused),
                ("DATA", (354,), smtplib.SMTPDataError),
            ):
                connection.putcmd(command)
                reply = connection.getreply()
                if reply[0] not in accepted:
                    self._refused(connection, refused, reply, to)
            return
        # RFC 2920: the envelope in one write, then its three answers in order.
        connection.send(f"MAIL FROM:<{self.sender}>{CRLF}RCPT TO:<{to}>{CRLF}DATA{CRLF}")
        sender, recipient, ready = (connection.getreply() for _ in range(3))
        if ready[0] == 354 and (sender[0] != 250 or recipient[0] not in (250, 251)):
            # A server that opened DATA for nobody gets an empty message ended at once.
            connection.send(f".{CRLF}")
            connection.getreply()
        if sender[0] != 250:
            self._refused(connection, smtplib.SMTPSenderRefused, sender, to)
        if recipient[0] not in (250, 251):
            self._refused(connection, smtplib.SMTPRecipientsRefused, recipient, to)
        if ready[0] != 354:
            self._refused(connection, smtplib.SMTPDataError, ready, to)

    def _refused(
        self, connection: smtplib.SMTP, kind: type[Exception], reply: tuple[int, bytes], to: str
    ) -> None:
        connection.rset()
        if kind is smtplib.SMTPRecipientsRefused:
            raise smtplib.SMTPRecipientsRefused({to: reply})
        if kind is smtplib.SMTPSenderRefused:
            raise smtplib.SMTPSenderRefused(reply[0], reply[1], self.sender)
        raise smtplib.SMTPDataError(*reply)

    def _data(self, connection: smtplib.SMTP, data: bytes) -> None:
        connection.send(_LEADING_DOT.sub(b"..", data) + b"." + CRLF.encode())
        answer = connection.getreply()
        if answer[0] != 250:
            connection.rset()
            raise smtplib.SMTPDataError(*answer)


class _PinnedSMTP(smtplib.SMTP):
    """Connects to the address the guard checked (``address``), whatever the host name
    resolves to by then; with STARTTLS the certificate must still match the name."""

    def __init__(self, address: str, timeout: float) -> None:
        self.pinned = address
        super().__init__(timeout=timeout)  # no host: ``connect`` comes next

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return super()._get_socket(self.pinned, port, timeout)  # type: ignore[misc]


class _PinnedSMTPSSL(smtplib.SMTP_SSL):
    """TLS from the start, to the checked address; smtplib wraps the socket with
    ``server_hostname`` set to the host name given to ``connect``."""

    def __init__(self, address: str, timeout: float, context: ssl.SSLContext) -> None:
        self.pinned = address
        super().__init__(timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return super()._get_socket(self.pinned, port, timeout)  # type: ignore[misc]


class Config(BaseModel):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(587, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str = ""
    password: str = ""
    sender: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    sender_name: str = ""
    timeout: float = Field(15.0, gt=0, le=120)


KIND = Kind(
    key="email",
    label=gettext_lazy("E-mail (SMTP)"),
    serves=("email",),
    config=Config,
    build=lambda config: EmailTransport(**config.model_dump()),
    secrets=("password",),
    form=EmailForm,
    description=gettext_lazy(
        "Your own mail server or a mail service's SMTP account (Tencent Exmail, Aliyun "
        "DirectMail …)."
    ),
)
