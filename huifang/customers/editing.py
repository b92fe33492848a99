"""Changing a customer on their page: the profile, tags, owner and a note (``ProfileForm``), and
a consent decision with its evidence (``ConsentForm``). Each change is audited.

Personal details stay masked while editing (DESIGN.md invariant 9): the phone, e-mail and WeCom
fields start empty with the masked value as a hint; what is typed replaces the stored value,
an empty field keeps it, so the form never shows what only an audited reveal may show.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huifang.audit import services as audit
from huifang.core.forms import bootstrap

from . import changes, pii
from .consent import record_consent, withdraw_consent
from .models import Channel, Consent, ContactPoint, Customer, Tag, tag_name_validator
from .phones import normalize_phone
from .schemas import ConsentIn

TAG_SPLIT = re.compile(r"[,，、;；\s]+")
MAX_TAGS = 50
# (form field, what pii.mask calls its kind): written, never shown in full.
PERSONAL = (
    ("phone", ContactPoint.Kind.PHONE),
    ("email", ContactPoint.Kind.EMAIL),
    ("wecom_external_userid", "wecom"),
)


class OwnerField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        profile = getattr(obj, "staff_profile", None)
        return str(profile.name if profile is not None else obj.get_username())


class ProfileForm(forms.ModelForm):
    phone = forms.CharField(label=_("Phone"), required=False, max_length=40)
    email = forms.CharField(label=pgettext_lazy("field", "E-mail"), required=False, max_length=254)
    wecom_external_userid = forms.CharField(
        label=_("WeCom external user id"), required=False, max_length=64
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=1000,
        help_text=_("Separate with commas, e.g. 物流慢, 包装破损"),
    )
    owner = OwnerField(
        label=_("Owner"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("— nobody —"),
    )

    class Meta:
        model = Customer
        fields = [
            "name",
            "gender",
            "birthday",
            "company",
            "province",
            "city",
            "source",
            "business_line",
            "owner",
            "tier",
            "lifecycle_stage",
            "time_zone",
            "language",
            "preferred_channel",
            "note",
        ]
        widgets = {
            "birthday": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "note": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, can_assign: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        customer = self.instance
        for name, kind in PERSONAL:
            current = getattr(customer, name)
            hint = _("now %(masked)s; type to replace, leave empty to keep") % {
                "masked": pii.mask(kind, current)
            }
            self.fields[name].widget.attrs["placeholder"] = str(hint) if current else ""
            self.fields[name].widget.attrs["autocomplete"] = "off"
        self.fields["tags"].initial = ", ".join(t.name for t in customer.tags.all())
        # A callable default would add a hidden "initial" input; the instance is the initial.
        self.fields["time_zone"].show_hidden_initial = False
        if can_assign:
            self.fields["owner"].queryset = (  # type: ignore[attr-defined]
                get_user_model()
                .objects.filter(is_active=True, staff_profile__isnull=False)
                .select_related("staff_profile")
                .order_by("staff_profile__display_name", "username")
            )
        else:
            del self.fields["owner"]
        bootstrap(self)

    def clean_phone(self) -> str:
        raw = self.cleaned_data.get("phone", "")
        return normalize_phone(raw) if raw.strip() else ""

    def clean_email(self) -> str:
        raw = self.cleaned_data.get("email", "").strip()
        if raw:
            validate_email(raw)
        return raw

    def clean_tags(self) -> list[str]:
        names = list(dict.fromkeys(t for t in TAG_SPLIT.split(self.cleaned_data["tags"]) if t))
        if len(names) > MAX_TAGS:
            raise ValidationError(_("At most %(n)s tags.") % {"n": MAX_TAGS})
        for name in names:
            tag_name_validator(name)
        return names

    def save_by(self, actor: Any, request: HttpRequest | None = None) -> list[str]:
        """Save, audited with the names of the fields that changed (never their values: some
        are personal). Returns those names."""
        customer: Customer = self.instance
        changed = [n for n in self.changed_data if n not in ("tags", *dict(PERSONAL))]
        for name, _kind in PERSONAL:
            value = self.cleaned_data.get(name) or ""
            if value and value != getattr(Customer.objects.get(pk=customer.pk), name):
                setattr(customer, name, value)
                changed.append(name)
        tags = self.cleaned_data["tags"]
        before = sorted(t.name for t in customer.tags.all())
        with transaction.atomic():
            customer.save()
            if sorted(tags) != before:
                customer.tags.set([Tag.objects.get_or_create(name=name)[0] for name in tags])
                changed.append("tags")
            if changed:
                audit.record(
                    audit.Action.CUSTOMER,
                    "edited",
                    actor=actor,
                    request=request,
                    target=customer,
                    object_repr=customer.audit_label,
                    details={"fields": sorted(changed)},
                )
                changes.happened(changes.UPDATED, [customer], timezone.now())
        return changed


# How staff hear a decision on the customer page; the other methods belong to their own paths
# (imports, the API, unsubscribe links, SMS replies).
STAFF_METHODS = [
    (Consent.Method.VERBAL, Consent.Method.VERBAL.label),
    (Consent.Method.PAPER, Consent.Method.PAPER.label),
    (Consent.Method.WEB_FORM, Consent.Method.WEB_FORM.label),
]
EVERY = "all"


class ConsentForm(forms.Form):
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[*Channel.choices, (EVERY, _("Every channel (do not contact)"))],
    )
    status = forms.ChoiceField(
        label=_("Decision"),
        choices=[
            (Consent.Status.GRANTED, _("Granted")),
            (Consent.Status.WITHDRAWN, _("Withdrawn")),
        ],
    )
    method = forms.ChoiceField(label=_("How"), choices=STAFF_METHODS)
    evidence = forms.CharField(
        label=_("Evidence"),
        max_length=2000,
        help_text=_("What proves it: who said what, when, or the form's number."),
    )
    text_version = forms.CharField(label=_("Consent text version"), max_length=50, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self, small=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("channel") == EVERY and data.get("status") == Consent.Status.GRANTED:
            self.add_error("channel", _("Consent is granted one channel at a time."))
        return data

    def save_by(self, customer: Customer, actor: Any) -> None:
        data = self.cleaned_data
        now = timezone.now()
        if data["status"] == Consent.Status.WITHDRAWN:
            channels = None if data["channel"] == EVERY else [data["channel"]]
            withdraw_consent(
                customer,
                channels,
                method=data["method"],
                evidence=data["evidence"],
                actor=actor,
                now=now,
            )
            return
        if customer.do_not_contact:
            # Consent given again, with its evidence, lifts do-not-contact (audited below).
            Customer.objects.filter(pk=customer.pk).update(
                do_not_contact=False, do_not_contact_at=None, do_not_contact_reason=""
            )
            customer.do_not_contact = False
        record_consent(
            customer,
            ConsentIn(
                channel=Channel(data["channel"]),
                status=Consent.Status.GRANTED,
                method=Consent.Method(data["method"]),
                recorded_at=now,
                text_version=data["text_version"],
                evidence=data["evidence"],
            ),
            actor=actor,
            now=now,
        )
