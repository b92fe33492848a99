"""The settings form of an Aliyun SMS account (阿里云短信)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from huifang.integrations.forms import (
    KEEP,
    SettingsForm,
    clean_signature,
    clean_url_field,
    config_default,
    secret_input,
)

KIND = "sms_aliyun"


class AliyunSmsForm(SettingsForm):
    kind = KIND

    access_key_id = forms.CharField(
        label=gettext_lazy("AccessKey ID"),
        max_length=128,
        help_text=gettext_lazy(
            "From the Aliyun console (RAM). A RAM user allowed only to send SMS is safest."
        ),
    )
    access_key_secret = forms.CharField(
        label=gettext_lazy("AccessKey Secret"),
        max_length=256,
        widget=secret_input(),
        help_text=KEEP,
    )
    sign_name = forms.CharField(
        label=gettext_lazy("Default signature"),
        required=False,
        max_length=14,  # with the 【】 an admin may type; they are taken off
        help_text=gettext_lazy(
            "An approved signature (签名), used when the message's template has none of its own."
        ),
    )
    endpoint = forms.CharField(
        label=gettext_lazy("Endpoint"),
        max_length=500,
        initial=config_default(KIND, "endpoint"),
        help_text=gettext_lazy("Change only for a regional endpoint or a proxy."),
    )
    region = forms.CharField(
        label=gettext_lazy("Region"), max_length=50, initial=config_default(KIND, "region")
    )
    timeout = forms.FloatField(
        label=gettext_lazy("Time-out (seconds)"),
        min_value=1,
        max_value=60,
        initial=config_default(KIND, "timeout"),
    )

    def clean_sign_name(self) -> str:
        return clean_signature(self.cleaned_data["sign_name"])

    def clean_endpoint(self) -> str:
        return clean_url_field(self, "endpoint")
