"""The template editor's form: the fields of a template and its content, checked by the
service (``save_template``) so the page and every other writer agree on what is valid."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from huifang.customers.models import Channel

from .models import Asks, MessageTemplate, TemplateVersion
from .services import CONTENT, Saved, save_template


def _label(model: type[Model], name: str) -> Any:
    # The model's own (translated) names, so the form says what the admin says.
    return capfirst(getattr(model._meta.get_field(name), "verbose_name", name))


class TemplateForm(forms.Form):
    key = forms.SlugField(label=_label(MessageTemplate, "key"), max_length=100)
    channel = forms.ChoiceField(label=_label(MessageTemplate, "channel"), choices=Channel.choices)
    name = forms.CharField(label=_label(MessageTemplate, "name"), max_length=200)
    subject = forms.CharField(
        label=_label(TemplateVersion, "subject"), max_length=200, required=False
    )
    # Not required here and not stripped: the service says what is missing, and the text is
    # kept exactly as written (a message may end with a line break on purpose).
    body = forms.CharField(
        label=_label(TemplateVersion, "body"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
    )
    sms_signature = forms.CharField(
        label=_label(TemplateVersion, "sms_signature"), max_length=20, required=False
    )
    provider_template_code = forms.CharField(
        label=_label(TemplateVersion, "provider_template_code"), max_length=64, required=False
    )
    # A plain text field: the service checks the address (http/https) with its own message.
    followup_url = forms.CharField(
        label=_label(TemplateVersion, "followup_url"), max_length=500, required=False
    )

    asks = forms.ChoiceField(
        label=_("Replies are read as a score"),
        choices=Asks.choices,
        required=False,
        help_text=_(
            "Replies to this message are read as a score when the text asks for one "
            "(“reply 1–5”): a reply that is clearly one score (5, ５, 五, 满意 …) is recorded "
            "as a survey answer and can take a rule's score branch; anything else stays a reply."
        ),
    )

    def __init__(self, *args: Any, template: MessageTemplate | None = None, **kwargs: Any):
        self.template = template
        if template is not None:
            current = template.current_version
            initial = {"key": template.key, "channel": template.channel, "name": template.name}
            if current is not None:
                initial |= {name: getattr(current, name) for name in CONTENT}
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        if template is not None:
            # Key and channel are what rules refer to: another key is another template.
            self.fields["key"].disabled = True
            self.fields["channel"].disabled = True
        for field in self.fields.values():
            select = isinstance(field.widget, forms.Select)
            field.widget.attrs["class"] = "form-select" if select else "form-control"
        for name in ("subject", "body"):
            self.fields[name].widget.attrs["data-variable-target"] = name
        self.fields["followup_url"].widget.attrs["placeholder"] = "https://"

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        # Outlined in red with Bootstrap, whether the form or the service found the problem.
        for name in self.errors:
            if name in self.fields and "is-invalid" not in self.fields[name].widget.attrs["class"]:
                self.fields[name].widget.attrs["class"] += " is-invalid"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        key, channel = cleaned.get("key"), cleaned.get("channel")
        if (
            self.template is None
            and key
            and MessageTemplate.objects.filter(key=key, channel=channel).exists()
        ):
            self.add_error(
                "key", _("A template with this key already exists for this channel: edit it.")
            )
        return cleaned

    def save(self, *, actor: Any, comment: str = "") -> Saved | None:
        """Save through the service; its errors land on their fields (``None`` then)."""
        data = self.cleaned_data
        try:
            return save_template(
                data["key"],
                data["channel"],
                name=data["name"],
                actor=actor,
                comment=comment,
                **{name: data.get(name) or "" for name in CONTENT},
            )
        except ValidationError as exc:
            self.add_error(None, exc)
            return None
