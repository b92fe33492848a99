"""Generic HTTP SMS gateway: an in-house or third-party gateway described by its settings.

The request is ``POST`` (a JSON object or a form-encoded body) or ``GET`` (query parameters)
to one URL. Its parameters are a mapping of name → value template; a value may use these
placeholders, replaced by plain text substitution in one pass (a substituted value is never
read again for placeholders, and nothing is evaluated):

- ``{to}`` the number in E.164 (``+8613800138000``); ``{to_national}`` the same without
  ``+86`` for mainland numbers (``13800138000``), other numbers unchanged;
- ``{body}`` the text with ``【signature】`` in front when there is a signature; ``{text}``
  the text alone; ``{signature}``; ``{template_code}`` the provider's template, and
  ``{params_json}`` its variables as a JSON object, for gateways that send templates only;
- ``{message_id}`` our id for the message; ``{token}`` the secret token setting.

Any other ``{name}`` is refused when the settings are saved; other braces (a JSON literal)
stay as they are. Header values may use ``{token}`` and ``{message_id}`` only: headers carry
no customer text, so no text can smuggle a line break into them. Headers that carry
credentials are kept with the secrets (encrypted, never shown back).

The answer: HTTP 2xx is success, unless a success rule says more — the JSON field at a dotted
path (``code``, ``result.status``, ``data.0.code``) must equal a value, or, with no field, the
whole text answer must. The provider's id is read from another dotted path. Failures: 408, 425,
429, 5xx, time-outs and connection errors are transient, and so is a provider code (or HTTP
status) the admin lists as transient (throttling); anything else, a redirect included (never
followed), is permanent, with the provider's code and answer kept for the message log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from huifang.integrations.base import Outgoing, Receipt, TransportError
from huifang.integrations.http import Response, call
from huifang.integrations.kinds import Kind

from .forms import SmsHttpForm

MESSAGE_PLACEHOLDERS = (
    "to",
    "to_national",
    "body",
    "text",
    "signature",
    "template_code",
    "message_id",
    "params_json",
    "token",
)
HEADER_PLACEHOLDERS = ("token", "message_id")
RECIPIENT = ("to", "to_national")
CONTENT = ("body", "text", "template_code", "params_json")

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
_PATH = re.compile(r"[^.\s]+(\.[^.\s]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Set by the connection itself; letting an admin override them would only break the request.
_RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
# Header names that carry a credential: kept with the secrets, whichever field they came in.
_CREDENTIAL_WORDS = ("auth", "token", "secret", "key", "passw", "cookie", "signature")
_TRANSIENT_STATUSES = {408, 425, 429}


def placeholders(template: str) -> list[str]:
    return _PLACEHOLDER.findall(template)


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace the known placeholders in one pass; replaced text is not scanned again."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def national(e164: str) -> str:
    return e164[3:] if e164.startswith("+86") else e164


def dig(document: Any, path: str) -> tuple[bool, Any]:
    """The value at a dotted path (``data.0.sid``: digits index lists); ``(False, None)`` if
    there is none."""
    current = document
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def as_text(value: Any) -> str:
    """A JSON value as an admin would type it in the success rule (``0``, ``OK``, ``true``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def is_credential(header: str) -> bool:
    return any(word in header.lower() for word in _CREDENTIAL_WORDS)


def _check_templates(values: Mapping[str, str], allowed: Collection[str]) -> None:
    for value in values.values():
        for name in placeholders(value):
            if name not in allowed:
                raise ValueError(
                    _("Unknown placeholder {%(name)s}. Available: %(available)s.")
                    % {"name": name, "available": ", ".join(f"{{{n}}}" for n in allowed)}
                )


def _check_headers(headers: Mapping[str, str]) -> None:
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(_("“%(name)s” is not a valid header name.") % {"name": name})
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(_("The %(name)s header cannot be set.") % {"name": name})
        if _CONTROL.search(value):
            raise ValueError(
                _("The value of the %(name)s header has a line break or control character.")
                % {"name": name}
            )
    _check_templates(headers, HEADER_PLACEHOLDERS)


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=500)
    method: Literal["POST", "GET"] = "POST"
    content_type: Literal["json", "form"] = "json"  # of a POST body; GET sends a query
    parameters: dict[str, str] = Field(min_length=1, max_length=50)
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    secret_headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    token: str = Field("", max_length=500)
    signature: str = Field("", max_length=20)  # when the message's template has none
    success_field: str = Field("", max_length=100)
    success_value: str = Field("", max_length=100, validate_default=True)
    id_field: str = Field("", max_length=100)
    transient_codes: list[str] = Field(default_factory=list, max_length=50)
    timeout: float = Field(10.0, gt=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _credentials_are_secret(cls, data: Any) -> Any:
        """A credential typed among the plain headers would be stored readable: move it."""
        if isinstance(data, dict) and isinstance(data.get("headers"), dict):
            plain = {k: v for k, v in data["headers"].items() if not is_credential(str(k))}
            moved = {k: v for k, v in data["headers"].items() if is_credential(str(k))}
            secret = data.get("secret_headers") or {}
            if moved and isinstance(secret, dict):
                data = {**data, "headers": plain, "secret_headers": {**secret, **moved}}
        return data

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(_("Enter an http:// or https:// URL with a host."))
        if placeholders(url):
            raise ValueError(
                _("The URL cannot have placeholders; put them in the request parameters.")
            )
        return url

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, parameters: dict[str, str]) -> dict[str, str]:
        if any(not name.strip() for name in parameters):
            raise ValueError(_("A parameter has no name."))
        _check_templates(parameters, MESSAGE_PLACEHOLDERS)
        used = {name for value in parameters.values() for name in placeholders(value)}
        if not used.intersection(RECIPIENT):
            raise ValueError(_("No parameter carries the phone number: use {to} or {to_national}."))
        if not used.intersection(CONTENT):
            raise ValueError(
                _(
                    "No parameter carries the message: use {body}, {text}, {template_code} "
                    "or {params_json}."
                )
            )
        return parameters

    @field_validator("headers", "secret_headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        _check_headers(headers)
        return headers

    @field_validator("token")
    @classmethod
    def _token(cls, token: str) -> str:
        # It may go into a header value.
        if _CONTROL.search(token):
            raise ValueError(_("The token has a line break or control character."))
        return token

    @field_validator("signature")
    @classmethod
    def _signature(cls, signature: str) -> str:
        return signature.strip().strip("【】")  # the brackets are added when sending

    @field_validator("success_field", "id_field")
    @classmethod
    def _path(cls, path: str) -> str:
        path = path.strip()
        if path and not _PATH.fullmatch(path):
            raise ValueError(
                _("Write a field path as names separated by dots, e.g. code or data.0.sid.")
            )
        return path

    @field_validator("success_value")
    @classmethod
    def _success_value(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if info.data.get("success_field") and not value:
            raise ValueError(_("Say which value of the success field means success."))
        return value

    @field_validator("transient_codes")
    @classmethod
    def _codes(cls, codes: list[str]) -> list[str]:
        return [code.strip() for code in codes if code.strip()]


@dataclass
class SmsHttpTransport:
    config: Config
    key: str = "sms_http"

    def values(self, outgoing: Outgoing) -> dict[str, str]:
        """What each placeholder stands for in this message."""
        signature = (outgoing.signature or self.config.signature).strip().strip("【】")
        mark = f"【{signature}】"
        text = outgoing.body
        return {
            "to": outgoing.to,
            "to_national": national(outgoing.to),
            # A template may already start with its signature; never send it twice.
            "body": mark + text if signature and not text.startswith(mark) else text,
            "text": text,
            "signature": signature,
            "template_code": outgoing.template_code,
            "message_id": str(outgoing.message_id),
            "params_json": json.dumps(dict(outgoing.params), ensure_ascii=False),
            "token": self.config.token,
        }

    def request(self, outgoing: Outgoing) -> tuple[str, bytes | None, dict[str, str]]:
        """The URL, body and headers to send."""
        config = self.config
        values = self.values(outgoing)
        parameters = {name: fill(value, values) for name, value in config.parameters.items()}
        headers = {
            name: fill(value, values)
            for name, value in {**config.headers, **config.secret_headers}.items()
        }
        if config.method == "GET":
            separator = "&" if urlsplit(config.url).query else "?"
            return config.url + separator + urlencode(parameters), None, headers
        if config.content_type == "json":
            body = json.dumps(parameters, ensure_ascii=False).encode()
            content_type = "application/json; charset=utf-8"
        else:
            body = urlencode(parameters).encode()
            content_type = "application/x-www-form-urlencoded"
        # The admin's own Content-Type wins: some gateways insist on an exact spelling.
        return config.url, body, {"Content-Type": content_type, **headers}

    def send(self, outgoing: Outgoing) -> Receipt:
        url, body, headers = self.request(outgoing)
        answer = call(
            self.config.method, url, body=body, headers=headers, timeout=self.config.timeout
        )
        text = answer.text()[:2000]
        try:
            document = json.loads(answer.body) if answer.body else None
        except ValueError:
            document = None
        code = self.provider_code(answer.status, document, text)
        if 200 <= answer.status < 300 and self.accepted(code):
            return Receipt(self.reference(document, outgoing), text)
        raise self.failure(answer, code, text)

    def provider_code(self, status: int, document: Any, text: str) -> str | None:
        """The value the success rule looks at; ``None`` when the rule has nothing to read."""
        if self.config.success_field:
            found, value = dig(document, self.config.success_field)
            return as_text(value) if found else None
        # A whole-text rule reads 2xx answers only: an error page is not a provider code.
        if self.config.success_value and 200 <= status < 300:
            return text.strip()[:100]
        return None

    def accepted(self, code: str | None) -> bool:
        if not self.config.success_value:
            return True
        return code == self.config.success_value

    def reference(self, document: Any, outgoing: Outgoing) -> str:
        if self.config.id_field:
            found, value = dig(document, self.config.id_field)
            if found and value not in (None, ""):
                return as_text(value)
        return f"sms_http-{outgoing.message_id}"

    def failure(self, answer: Response, code: str | None, text: str) -> TransportError:
        status = answer.status
        if 200 <= status < 300 and code is None:
            # The gateway answered, but not in the shape configured: it may even have sent
            # the message, so trying again could send it twice.
            return TransportError(
                f"SMS gateway: no {self.config.success_field} in the answer",
                permanent=True,
                code="unexpected_answer",
                answer=text,
            )
        code = code or str(status)
        message = f"SMS gateway {code}: HTTP {status}"
        if 300 <= status < 400:
            message += f", redirect to {answer.headers.get('Location', '?')} not followed"
        transient = (
            status in _TRANSIENT_STATUSES
            or status >= 500
            or code in self.config.transient_codes
            or str(status) in self.config.transient_codes
        )
        return TransportError(message, permanent=not transient, code=code, answer=text)


KIND = Kind(
    key="sms_http",
    label=gettext_lazy("HTTP SMS gateway"),
    serves=("sms",),
    config=Config,
    build=lambda config: SmsHttpTransport(config),
    form=SmsHttpForm,
    secrets=("secret_headers", "token"),
    description=gettext_lazy(
        "An in-house or third-party SMS gateway called over HTTP, with the request and the "
        "answer described in its settings."
    ),
)
