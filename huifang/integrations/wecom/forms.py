"""The settings form of a WeCom group robot (企业微信群机器人)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from huifang.integrations.forms import (
    SettingsForm,
    clean_url_field,
    config_default,
    secret_input,
)

KIND = "wecom_robot"


class WeComRobotForm(SettingsForm):
    kind = KIND

    # Secret: the key in it is the robot's only credential.
    webhook_url = forms.CharField(
        label=gettext_lazy("Webhook URL"),
        max_length=500,
        widget=secret_input(),
        help_text=gettext_lazy(
            "As the robot's details show it: https://qyapi.weixin.qq.com/cgi-bin/webhook/"
            "send?key=…. The key in it is the robot's only credential, so it is stored "
            "encrypted and never shown again: leave blank to keep the stored value."
        ),
    )
    timeout = forms.FloatField(
        label=gettext_lazy("Time-out (seconds)"),
        min_value=1,
        max_value=60,
        initial=config_default(KIND, "timeout"),
    )

    def clean_webhook_url(self) -> str:
        return clean_url_field(self, "webhook_url")
