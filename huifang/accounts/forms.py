from django import forms
from django.utils.translation import gettext_lazy as _

from .models import TokenScope


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("What uses this token, e.g. “order system” or “ticket webhook”."),
    )
    scope = forms.ChoiceField(
        label=_("Scope"),
        choices=TokenScope.choices,
        initial=TokenScope.WRITE,
        required=False,
        help_text=_("Give a token no more than its system needs."),
    )

    def clean_scope(self) -> str:
        return self.cleaned_data.get("scope") or TokenScope.WRITE.value


class CodeForm(forms.Form):
    """Six digits from an authenticator app."""

    code = forms.RegexField(
        label=_("Code from your authenticator app"),
        regex=r"^\s*\d{6}\s*$",
        max_length=12,
        error_messages={"invalid": _("Enter the 6 digits your authenticator app shows.")},
    )

    def clean_code(self) -> str:
        return str(self.cleaned_data["code"]).strip()
