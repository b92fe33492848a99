"""The contract every channel's transport keeps (STYLE.md example 1).

``Transport.send(outgoing) -> Receipt`` hands one rendered message to the provider and returns
the provider's id for it, or raises ``TransportError``: ``permanent=True`` when trying again
cannot help (an invalid number, a bad signature, a refused URL), ``False`` when it may
(throttled, timed out, the provider's 5xx). What to do next — retry with back-off, fail, mark
``uncertain`` — is the dispatcher's business, not the transport's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


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


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool, code: str = "", answer: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        self.answer = answer
