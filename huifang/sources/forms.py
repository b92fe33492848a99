"""The forms of the sources pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huifang.core.forms import bootstrap

from .mapping import MAX_DOCUMENT_CHARS, MappingInvalid, read_document
from .models import SLUG, Source
from .ready import READY

BLANK_CHOICE = "blank"


class NewSourceForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    slug = forms.CharField(
        label=_("URL name"),
        max_length=50,
        validators=[SLUG],
        help_text=_("The last part of the address the system posts to, e.g. youzan-shop."),
    )
    ready = forms.ChoiceField(
        label=_("Start from"), widget=forms.RadioSelect(attrs={"class": "form-check-input"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ready: Any = self.fields["ready"]
        ready.choices = [
            *((key, ready.label) for key, ready in READY.items()),
            (BLANK_CHOICE, _("A blank mapping")),
        ]
        self.fields["ready"].initial = next(iter(READY))
        bootstrap(self)

    def clean_slug(self) -> str:
        slug = str(self.cleaned_data["slug"]).strip().lower()
        if Source.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("Another source already uses this URL name."))
        return slug


class MappingForm(forms.Form):
    mapping = forms.CharField(
        label=_("Mapping document (YAML or JSON)"),
        strip=False,
        max_length=MAX_DOCUMENT_CHARS,
        widget=forms.Textarea(
            attrs={"rows": 22, "spellcheck": "false", "class": "form-control font-monospace"}
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)

    def clean_mapping(self) -> str:
        text = str(self.cleaned_data["mapping"]).replace("\r\n", "\n")
        try:
            read_document(text)
        except MappingInvalid as invalid:
            raise forms.ValidationError(invalid.message) from None
        return text


class TryForm(forms.Form):
    payload = forms.CharField(
        label=_("A payload to try"),
        max_length=200_000,
        widget=forms.Textarea(
            attrs={"rows": 12, "spellcheck": "false", "class": "form-control font-monospace"}
        ),
        help_text=_("Paste a JSON payload: you see what it would become. Nothing is stored."),
    )
    mapping = forms.CharField(
        required=False, widget=forms.HiddenInput, max_length=MAX_DOCUMENT_CHARS
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)
