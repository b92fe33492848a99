"""What the channels page changes: a provider's settings, and the "send test" hand-off.

Plain functions with keyword-only arguments (STYLE.md example 8); the views only show forms
and results.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from pydantic import BaseModel

from .base import Outgoing, TransportError
from .kinds import Kind
from .models import Provider
from .outbound import record_blocked

logger = logging.getLogger("huifang.integrations")

ANSWER_LENGTH = 2000  # of the provider's answer kept on the provider; transports cut theirs too
_BLANK: tuple[Any, ...] = ("", None, {}, [])


def keep_secrets(spec: Kind, config: BaseModel, stored: Mapping[str, Any]) -> BaseModel:
    """``config`` with each secret left blank taking its stored value, validated again."""
    values = config.model_dump()
    kept = {
        name: stored[name]
        for name in spec.secrets
        if values.get(name) in _BLANK and stored.get(name) not in _BLANK
    }
    return spec.config.model_validate({**values, **kept}) if kept else config


def save_settings(*, provider: Provider, spec: Kind, config: BaseModel) -> Provider:
    """Store a provider of ``spec`` with ``config``: the secrets sealed, the rest readable."""
    provider.kind = spec.key
    provider.set_settings(config.model_dump(mode="json"))
    provider.save()
    return provider


def set_enabled(*, provider: Provider, enabled: bool) -> None:
    provider.enabled = enabled
    provider.save(update_fields=["enabled", "updated_at"])


@dataclass(frozen=True)
class SendTestResult:
    ok: bool
    answer: str = ""  # what the provider said
    reference: str = ""  # the provider's id for the message
    code: str = ""  # the provider's (or our) error code
    error: str = ""  # what went wrong, in a sentence

    def summary(self) -> str:
        """What the provider keeps as its last test's answer."""
        if self.ok:
            return self.answer or self.reference
        # Transports mostly put the code in their message already: not twice.
        head = self.error if self.code in self.error else f"{self.code} {self.error}".strip()
        return "\n".join(part for part in (head, self.answer) if part)

    def redacted(self, secrets: Iterable[str]) -> SendTestResult:
        """Without the secrets a network error may quote (a robot's URL carries its token)."""
        answer, error = self.answer, self.error
        for secret in _secret_forms(secrets):
            answer, error = answer.replace(secret, "***"), error.replace(secret, "***")
        return replace(self, answer=answer, error=error)


def _secret_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret, and for a URL its path and query as an error message quotes them."""
    forms: set[str] = set()
    for secret in secrets:
        forms.add(secret)
        parts = urlsplit(secret)
        if parts.scheme and parts.netloc:
            forms.add(parts.path + ("?" + parts.query if parts.query else ""))
            forms.add(parts.query)
    # The longest first, so a URL is hidden whole before its query is.
    return sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)


def _texts(value: Any) -> list[str]:
    """The strings in a secret: itself, or the values of a mapping of them (secret headers)."""
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _texts(item)]
    return [value] if isinstance(value, str) and value else []


def make_test_message(
    *,
    provider: Provider,
    to: str = "",
    template_code: str = "",
    params: Mapping[str, str] | None = None,
) -> Outgoing:
    """A short text that says what it is. Id 0: no message in the log has it."""
    name = provider.name
    return Outgoing(
        message_id=0,
        channel=provider.channel,
        to=to,
        subject=_("Huifang test message"),
        body=_(
            "This is a test message from Huifang. If you can read it, the provider “%(name)s” "
            "works."
        )
        % {"name": name},
        template_code=template_code,
        params=dict(params or {}),
    )


def send_test(
    *, provider: Provider, outgoing: Outgoing, request: HttpRequest | None = None
) -> SendTestResult:
    """Hand ``outgoing`` straight to the provider's transport — no queue, no gate: the admin
    typed the address — and keep the outcome on the provider. A provider whose address the
    outbound guard refuses is also in the audit log, as the admin's (``request``) attempt.

    Raises ``UnreadableSecrets`` (the key changed) and pydantic's ``ValidationError`` (the
    stored settings no longer fit the kind) before anything is sent; nothing is recorded then.
    """
    settings = provider.settings()
    transport = provider.spec.build(settings)
    try:
        receipt = transport.send(outgoing)
        result = SendTestResult(ok=True, answer=receipt.answer, reference=receipt.provider_ref)
    except TransportError as exc:
        result = SendTestResult(ok=False, answer=exc.answer, code=exc.code, error=str(exc))
        if exc.blocked is not None:
            record_blocked(exc.blocked, via="send test", provider=provider, request=request)
    except Exception as exc:  # a transport's bug: the admin sees it instead of a 500 page
        logger.exception("test of provider %s failed unexpectedly", provider.pk)
        result = SendTestResult(ok=False, code="unexpected", error=f"{type(exc).__name__}: {exc}")
    finally:
        close = getattr(transport, "close", None)  # an SMTP connection stays open otherwise
        if close is not None:
            close()
    result = result.redacted(_texts(settings.model_dump(include=set(provider.spec.secrets))))
    provider.last_test_at = timezone.now()
    provider.last_test_ok = result.ok
    provider.last_test_answer = result.summary()[:ANSWER_LENGTH]
    provider.save(update_fields=["last_test_at", "last_test_ok", "last_test_answer"])
    return result
