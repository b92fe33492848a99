"""The settings form of a generic signed webhook."""

from __future__ import annotations

from secrets import token_urlsafe
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.integrations.forms import (
    SettingsForm,
    clean_url_field,
    config_default,
    secret_input,
)

KIND = "webhook"


class WebhookForm(SettingsForm):
    kind = KIND

    url = forms.CharField(
        label=gettext_lazy("URL"),
        max_length=500,
        help_text=gettext_lazy(
            "Each message is POSTed here as JSON. An address inside your network must first be "
            "allowed in OUTBOUND_HTTP_ALLOW."
        ),
    )
    secret = forms.CharField(
        label=gettext_lazy("Signing secret"),
        min_length=16,
        max_length=200,
        widget=secret_input(),
    )
    timeout = forms.FloatField(
        label=gettext_lazy("Time-out (seconds)"),
        min_value=1,
        max_value=60,
        initial=config_default(KIND, "timeout"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A fresh suggestion each time the form is shown: nothing stored, nothing to leak.
        self.fields["secret"].help_text = _(
            "At least 16 characters, shared with the receiver, which checks each request's "
            "X-Huifang-Signature with it. Generate one, e.g.: %(suggestion)s. Stored encrypted "
            "and never shown again: leave blank to keep the stored value."
        ) % {"suggestion": token_urlsafe(24)}

    def clean_url(self) -> str:
        return clean_url_field(self, "url")
