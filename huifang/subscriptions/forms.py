"""The subscription form: a name, a URL the outbound guard accepts, event types as check
boxes, and the signing secret (stored encrypted, never shown again)."""

from __future__ import annotations

from secrets import token_urlsafe
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.core.forms import bootstrap
from huifang.integrations.forms import check_http_url, secret_input
from huifang.integrations.http import BlockedURL, check

from .events import event_types
from .models import Subscription


class SubscriptionForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one event.")},
    )
    secret = forms.CharField(
        label=gettext_lazy("Signing secret"),
        min_length=16,
        max_length=200,
        required=False,
        strip=True,
        widget=secret_input(),
    )

    class Meta:
        model = Subscription
        fields = ["name", "url", "event_types", "active"]
        help_texts = {
            "url": gettext_lazy(
                "Each event is POSTed here as signed JSON. An address inside your network must "
                "first be allowed in OUTBOUND_HTTP_ALLOW."
            ),
            "active": gettext_lazy("A paused subscription is sent nothing new."),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        chosen = self.fields["event_types"]
        assert isinstance(chosen, forms.MultipleChoiceField)
        chosen.choices = [(e.key, e.label) for e in event_types]
        self.blocked: BlockedURL | None = None
        stored = self.instance.pk is not None and bool(self.instance.sealed)
        self.fields["secret"].required = not stored
        # A fresh suggestion each time the form is shown: nothing stored, nothing to leak.
        suggestion = {"suggestion": token_urlsafe(24)}
        if stored:
            self.fields["secret"].help_text = (
                _(
                    "Stored encrypted and never shown again: leave blank to keep it, or enter a "
                    "new one (at least 16 characters), e.g. %(suggestion)s."
                )
                % suggestion
            )
        else:
            self.fields["secret"].help_text = (
                _(
                    "At least 16 characters, shared with the receiver, which checks each request's "
                    "X-Huifang-Signature with it. Copy it now, e.g. %(suggestion)s: it is stored "
                    "encrypted and never shown again."
                )
                % suggestion
            )
        bootstrap(self)

    def clean_url(self) -> str:
        url = check_http_url(str(self.cleaned_data.get("url") or ""))
        try:
            check(url)
        except BlockedURL as exc:
            self.blocked = exc
            raise ValidationError(str(exc), code="blocked") from None
        return url

    def clean_event_types(self) -> list[str]:
        chosen = set(self.cleaned_data.get("event_types") or [])
        return [entry.key for entry in event_types if entry.key in chosen]
