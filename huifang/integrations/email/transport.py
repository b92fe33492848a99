"""E-mail over SMTP: one connection per batch, plain text with an HTML alternative.

The HTML part is the text, escaped (DESIGN.md invariant 7: what customers and staff wrote never
becomes markup), with line breaks kept. ``List-Unsubscribe`` and ``List-Unsubscribe-Post``
come with the message (``Outgoing.headers``) so mail clients offer one-click unsubscribe
(RFC 8058). SMTP answers decide: 4xx and dropped connections are transient, 5xx permanent.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from html import escape
from types import TracebackType
from typing import Literal

from django.utils.translation import gettext_lazy
from pydantic import BaseModel, Field

from huifang.integrations.base import Outgoing, Receipt, TransportError
from huifang.integrations.kinds import Kind

from .forms import EmailForm

SECURITY = ("none", "starttls", "tls")


def build(outgoing: Outgoing, sender: str, sender_name: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender)) if sender_name else sender
    message["To"] = outgoing.to
    message["Subject"] = outgoing.subject
    domain = sender.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(idstring=f"hf{outgoing.message_id}", domain=domain)
    for name, value in outgoing.headers.items():
        message[name] = value
    message.set_content(outgoing.body)
    html = escape(outgoing.body).replace("\n", "<br>\n")
    message.add_alternative(f"<!doctype html><html><body>{html}</body></html>", subtype="html")
    return message


def _error(exc: Exception) -> TransportError:
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
        context = ssl.create_default_context()
        if self.security == "tls":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.security == "starttls":
                connection.starttls(context=context)
        if self.username:
            connection.login(self.username, self.password)
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

    def _reset(self) -> None:
        try:
            if self._connection is not None:
                self._connection.rset()
        except (smtplib.SMTPException, OSError):
            self._connection = None

    def send(self, outgoing: Outgoing) -> Receipt:
        message = build(outgoing, self.sender, self.sender_name)
        try:
            if self._connection is None:
                self._connection = self._connect()
            self._connection.send_message(message)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # A connection in an unknown state is not re-used.
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            raise _error(exc) from None
        return Receipt(str(message["Message-ID"]).strip())


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
