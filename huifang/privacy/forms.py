from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from huifang.customers.models import Customer


class EraseForm(forms.Form):
    """The erasure's confirmation: the customer's name typed again, and why."""

    confirm = forms.CharField(label=_("Type the customer's name to confirm"), max_length=100)
    reason = forms.CharField(
        label=_("Why, with the request's reference"),
        max_length=500,
        help_text=_("For example: erasure request of 2026-12-01, ticket 4711."),
    )

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer

    def clean_confirm(self) -> str:
        typed = str(self.cleaned_data["confirm"]).strip()
        if typed != self.customer.name.strip():
            raise forms.ValidationError(_("That is not the customer's name as shown above."))
        return typed

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("Say why the data is erased."))
        return reason
