"""The settings form of an SMTP account."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from huifang.integrations.forms import (
    KEEP,
    SettingsForm,
    config_default,
    secret_input,
)


class EmailForm(SettingsForm):
    kind = "email"

    host = forms.CharField(
        label=gettext_lazy("SMTP server"),
        max_length=255,
        help_text=gettext_lazy("The mail server's host name, e.g. smtp.exmail.qq.com."),
    )
    port = forms.IntegerField(
        label=gettext_lazy("Port"),
        min_value=1,
        max_value=65535,
        initial=config_default("email", "port"),
    )
    security = forms.ChoiceField(
        label=gettext_lazy("Security"),
        choices=[
            ("starttls", gettext_lazy("STARTTLS (usually port 587)")),
            ("tls", gettext_lazy("TLS from the start (usually port 465)")),
            ("none", gettext_lazy("None: only for a relay inside your network (port 25)")),
        ],
        initial=config_default("email", "security"),
    )
    username = forms.CharField(
        label=gettext_lazy("User name"),
        required=False,
        max_length=254,
        help_text=gettext_lazy("Blank if the server takes mail without logging in."),
    )
    password = forms.CharField(
        label=gettext_lazy("Password"),
        required=False,
        max_length=500,
        widget=secret_input(),
        help_text=KEEP,
    )
    sender = forms.EmailField(
        label=gettext_lazy("Sender address"),
        max_length=254,
        help_text=gettext_lazy("The From address; the server must allow the account to use it."),
    )
    sender_name = forms.CharField(
        label=gettext_lazy("Sender name"),
        required=False,
        max_length=100,
        help_text=gettext_lazy("Shown by mail clients before the address, e.g. your shop's name."),
    )
    timeout = forms.FloatField(
        label=gettext_lazy("Time-out (seconds)"),
        min_value=1,
        max_value=120,
        initial=config_default("email", "timeout"),
    )
