"""The settings form of a DingTalk group robot (钉钉自定义机器人)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy

from huifang.integrations.forms import (
    SettingsForm,
    clean_url_field,
    config_default,
    secret_input,
)

KIND = "dingtalk"


class DingTalkForm(SettingsForm):
    kind = KIND

    # Secret: the access token in it is all anyone needs to post in the group.
    webhook_url = forms.CharField(
        label=gettext_lazy("Webhook URL"),
        max_length=500,
        widget=secret_input(),
        help_text=gettext_lazy(
            "As the robot's settings show it: https://oapi.dingtalk.com/robot/send?"
            "access_token=…. It carries the robot's access token, so it is stored encrypted "
            "and never shown again: leave blank to keep the stored value."
        ),
    )
    secret = forms.CharField(
        label=gettext_lazy("Signing secret (加签)"),
        required=False,
        max_length=200,
        widget=secret_input(),
        help_text=gettext_lazy(
            "The SEC… secret shown when 加签 (signing) is turned on; blank if it is off. "
            "Stored encrypted and never shown again: leave blank to keep the stored value."
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
