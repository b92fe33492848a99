"""The contract every channel's transport keeps (STYLE.md example 1).

``Transport.send(outgoing) -> Receipt`` hands one rendered message to the provider and returns
the provider's id for it, or raises ``TransportError``: ``permanent=True`` when trying again
cannot help (an invalid number, a bad signature, a refused URL), ``False`` when it may
(throttled, unreachable, the provider's 5xx), ``uncertain=True`` when the message went out
and no answer came back (a time-out waiting for it). What to do next — retry with back-off,
fail, mark ``uncertain`` — is the dispatcher's business, not the transport's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    """One rendered message, as a transport sends it."""

    message_id: int
    channel: str
    to: str  # the address on this channel: E.164 phone, e-mail address …
    body: str
    subject: str = ""
    template_code: str = ""  # the provider's own template, where it requires one
    signature: str = ""  # SMS signature (签名)
    params: Mapping[str, str] = field(default_factory=dict)  # variables for provider templates
    headers: Mapping[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe


@dataclass(frozen=True)
class Receipt:
    provider_ref: str  # the provider's id for the message
    answer: str = ""  # what the provider said, for the message log


@dataclass(frozen=True)
class Blocked:
    """A connection the outbound guard refused because its host is, or resolves to, an
    internal address (DESIGN.md invariant 8): what the audit log records of it."""

    host: str
    port: int
    address: str  # the internal address found
    reason: str  # which kind of address: loopback, link-local, private … (http.address_kind)


class TransportError(Exception):
    """Not accepted (``permanent``: trying again cannot help), or ``uncertain``: the message
    went out and the answer never came back, so the provider may have it. ``blocked``: the
    outbound guard refused the provider's address (the caller, who knows which provider
    asked, puts that in the audit log)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        code: str = "",
        answer: str = "",
        uncertain: bool = False,
        blocked: Blocked | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.answer = answer
        self.uncertain = uncertain
        self.blocked = blocked


class Transport(Protocol):
    key: str

    def send(self, outgoing: Outgoing) -> Receipt:
        """Hand one message to the provider; ``TransportError`` if it was not accepted."""


def check_answer(
    provider: str, status: int, code: object, message: object, text: str, throttled: set[int]
) -> None:
    """Raise ``TransportError`` unless a provider that answers with a JSON code accepted the
    message (HTTP 200, code 0). Throttling codes and 429 / 5xx without a code are transient."""
    if status == 200 and code == 0:
        return
    if not isinstance(code, int):
        raise TransportError(
            f"{provider}: HTTP {status}", permanent=status < 500 and status != 429, answer=text
        )
    raise TransportError(
        f"{provider} {code}: {message or ''}",
        permanent=code not in throttled,
        code=str(code),
        answer=text,
    )


def require_template_code(outgoing: Outgoing, provider: str) -> None:
    """Chinese SMS providers send only templates approved in their console, by code."""
    if not outgoing.template_code:
        raise TransportError(
            f"{provider} sends approved templates only: set the template's provider code",
            permanent=True,
            code="no_template_code",
        )


MOBILE = re.compile(r"(?:\+?86)?(1\d{10})")  # a mainland mobile number, +86 optional


def national_mobile(to: str) -> str:
    """The 11 national digits of a mainland mobile number, or ``""`` if ``to`` is not one
    (robots mention staff by mobile or by their own user ids)."""
    match = MOBILE.fullmatch(re.sub(r"[\s-]", "", to))
    return match.group(1) if match else ""
