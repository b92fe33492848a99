"""The settings form of an HTTP SMS gateway.

Mappings (parameters, headers) are typed one ``name=value`` a line. ``clean()`` builds the
pydantic ``Config`` — the one place the rules live — and shows its errors on the fields they
concern; the valid settings are then on ``form.config``. Secret fields never show a stored
value: left blank, they keep it (the view merges them with the stored secrets).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import ValidationError as SettingsError

if TYPE_CHECKING:
    from .transport import Config

# The form's fields that are Config fields.
SETTINGS = (
    "url",
    "method",
    "content_type",
    "parameters",
    "headers",
    "secret_headers",
    "token",
    "signature",
    "success_field",
    "success_value",
    "id_field",
    "transient_codes",
    "timeout",
)
_CODE_SEPARATORS = re.compile(r"[\s,，;；]+")  # an admin may well type Chinese punctuation


class SecretTextarea(forms.Textarea):
    """What ``PasswordInput(render_value=False)`` is for one line, for several lines: the
    stored value is never written back into the page."""

    def format_value(self, value: Any) -> str | None:
        return None


def parse_mapping(text: str) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, separator, value = line.partition("=")
        name = name.strip()
        if not separator or not name:
            # The line itself is not repeated: it may hold a secret.
            raise ValidationError(
                _("Line %(line)s is not name=value."), code="invalid", params={"line": number}
            )
        if name in mapping:
            raise ValidationError(
                _("“%(name)s” appears twice."), code="duplicate", params={"name": name}
            )
        mapping[name] = value.strip()
    return mapping


def format_mapping(mapping: dict[str, str]) -> str:
    return "\n".join(f"{name}={value}" for name, value in mapping.items())


def initial_for(config: Config) -> dict[str, Any]:
    """The form's initial values for stored settings, secrets left out."""
    values = config.model_dump(exclude={"secret_headers", "token"})
    values["parameters"] = format_mapping(config.parameters)
    values["headers"] = format_mapping(config.headers)
    values["transient_codes"] = ", ".join(config.transient_codes)
    return values


class SmsHttpForm(forms.Form):
    @classmethod
    def initial_for(cls, config: Config) -> dict[str, Any]:
        return initial_for(config)

    # A CharField, not a URLField: Django's URL check refuses intranet host names without a
    # dot (http://smsgw:8080/), which is exactly where an in-house gateway lives.
    url = forms.CharField(
        label=gettext_lazy("Gateway URL"),
        max_length=500,
        help_text=gettext_lazy(
            "Where the gateway takes messages, http:// or https://. An address inside your "
            "network must first be allowed in OUTBOUND_HTTP_ALLOW."
        ),
    )
    method = forms.ChoiceField(
        label=gettext_lazy("Method"), choices=[("POST", "POST"), ("GET", "GET")], initial="POST"
    )
    content_type = forms.ChoiceField(
        label=gettext_lazy("Body format"),
        choices=[
            ("json", gettext_lazy("JSON")),
            ("form", gettext_lazy("Form fields (application/x-www-form-urlencoded)")),
        ],
        initial="json",
        help_text=gettext_lazy(
            "How a POST sends the parameters. A GET sends them in the query string."
        ),
    )
    parameters = forms.CharField(
        label=gettext_lazy("Request parameters"),
        widget=forms.Textarea(
            attrs={"rows": 6, "placeholder": "mobile={to_national}\ncontent={body}"}
        ),
        help_text=gettext_lazy(
            "One name=value per line. Values may use {to}, {to_national}, {body}, {text}, "
            "{signature}, {template_code}, {message_id}, {params_json} and {token}; "
            "{body} is the text with 【signature】 in front."
        ),
    )
    headers = forms.CharField(
        label=gettext_lazy("Headers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy(
            "Extra request headers, one name=value per line; values may use {token} and "
            "{message_id}. Headers that carry credentials (Authorization, or a name with "
            "token, key, secret …) are stored as secret headers."
        ),
    )
    secret_headers = forms.CharField(
        label=gettext_lazy("Secret headers"),
        required=False,
        widget=SecretTextarea(attrs={"rows": 2, "autocomplete": "off"}),
        help_text=gettext_lazy(
            "Headers with credentials, one name=value per line, e.g. Authorization=Bearer "
            "{token}. Stored encrypted and never shown again: leave blank to keep the stored "
            "value."
        ),
    )
    token = forms.CharField(
        label=gettext_lazy("Token"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=gettext_lazy(
            "An API key or password, sent where a parameter or header says {token}. Stored "
            "encrypted and never shown again: leave blank to keep the stored value."
        ),
    )
    signature = forms.CharField(
        label=gettext_lazy("Default signature"),
        required=False,
        max_length=20,
        help_text=gettext_lazy("Used when the message's template has no signature of its own."),
    )
    success_field = forms.CharField(
        label=gettext_lazy("Success field"),
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "The field of the JSON answer that says whether the gateway took the message, as "
            "a path with dots (code, result.status). Blank: any 2xx answer is success."
        ),
    )
    success_value = forms.CharField(
        label=gettext_lazy("Success value"),
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "The value of that field that means success, e.g. 0 or OK. With no success "
            "field, the whole answer text must equal it."
        ),
    )
    id_field = forms.CharField(
        label=gettext_lazy("Message id field"),
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "Where the JSON answer has the gateway's id for the message, e.g. data.sid."
        ),
    )
    transient_codes = forms.CharField(
        label=gettext_lazy("Try-again codes"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy(
            "Codes of the success field (or HTTP statuses) that mean “try again later”, such "
            "as throttling, separated by commas. Other refusals are final."
        ),
    )
    timeout = forms.FloatField(
        label=gettext_lazy("Time-out (seconds)"), min_value=1, max_value=60, initial=10
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: Config | None = None

    def clean_parameters(self) -> dict[str, str]:
        return parse_mapping(self.cleaned_data["parameters"])

    def clean_headers(self) -> dict[str, str]:
        return parse_mapping(self.cleaned_data["headers"])

    def clean_secret_headers(self) -> dict[str, str]:
        return parse_mapping(self.cleaned_data["secret_headers"])

    def clean_transient_codes(self) -> list[str]:
        return [
            code for code in _CODE_SEPARATORS.split(self.cleaned_data["transient_codes"]) if code
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        from .transport import Config  # transport.py imports this module for its KIND

        # Validate what the fields let through, so an admin sees every mistake at once.
        try:
            config = Config.model_validate({n: cleaned[n] for n in SETTINGS if n in cleaned})
        except SettingsError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else None
                if field in self.fields and field not in cleaned:
                    continue  # the field's own error already says what is wrong
                # Our validators' messages are translated sentences; pydantic puts
                # "Value error, " in front, which an admin has no use for.
                message = error.get("ctx", {}).get("error") or error["msg"]
                self.add_error(field if field in self.fields else None, str(message))
            return cleaned
        if not self.errors:
            self.config = config
        return cleaned
