from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import TokenScope
from .signin import lockout_message


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


class OwnPasswordForm(PasswordChangeForm):
    """Changing one's own password. The old password is checked the way a sign-in is, so wrong
    guesses count towards the same lock-out (django-axes) and are logged: a stolen session
    cannot try old passwords without limit here."""

    def __init__(self, user: Any, data: Any = None, *, request: HttpRequest) -> None:
        super().__init__(user, data)
        self.request = request

    def clean_old_password(self) -> str:
        old = self.cleaned_data["old_password"]
        checked = authenticate(self.request, username=self.user.get_username(), password=old)
        if getattr(self.request, "axes_locked_out", False):
            raise forms.ValidationError(lockout_message(), code="locked_out")
        if checked is None or checked.pk != self.user.pk:
            raise forms.ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old  # type: ignore[no-any-return]
