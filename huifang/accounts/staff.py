"""Staff in the product: administrators add people (with a password made for them, to be
changed at the first sign-in), give them a role and a team, set their capacity, skills, working
hours and leave, reset a forgotten password and switch an account off; every member of staff
keeps their own profile (name, contact details, where they are notified). Each change is
audited; passwords are never written anywhere but the user row.

Whether a person who goes on leave or is switched off has open work, and handing it on, is the
tasks app's (above this one): it provides ``open_work`` in its ``AppConfig.ready()``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huifang.audit.services import record
from huifang.core.forms import bootstrap
from huifang.core.hooks import Port
from huifang.core.limits import validate_day
from huifang.core.zones import validate_zone_name

from .channels import CHOICES, CONTACT_IDS, IN_APP
from .models import StaffProfile, Team
from .passwords import generate_password
from .roles import Role, ensure_role_groups, roles_of
from .working_hours import validate_working_hours

WEEKDAYS = [
    (0, _("Mon")),
    (1, _("Tue")),
    (2, _("Wed")),
    (3, _("Thu")),
    (4, _("Fri")),
    (5, _("Sat")),
    (6, _("Sun")),
]
_LIST_SPLIT = re.compile(r"[,，、;；\n]+")


@dataclass(frozen=True)
class OpenWork:
    """What the tasks app tells about a person's open tasks."""

    counts: Callable[[Sequence[int]], dict[int, int]]  # user ids → open tasks


open_work: Port[OpenWork] = Port("open work of staff")


def open_counts(user_ids: Sequence[int]) -> dict[int, int]:
    try:
        return open_work().counts(user_ids)
    except RuntimeError:  # no tasks app: nobody has open tasks
        return {}


def role_of(user: Any) -> str:
    """The one role shown and edited on the staff pages (the strongest, should there be two)."""
    held = roles_of(user)
    return next((role.value for role in Role if role.value in held), "")


def _zone(value: str) -> str:
    validate_zone_name(value.strip())
    return value.strip()


def _words(text: str) -> list[str]:
    return list(dict.fromkeys(w.strip() for w in _LIST_SPLIT.split(text or "") if w.strip()))


class StaffForm(forms.Form):
    """One person, as an administrator sets them up."""

    display_name = forms.CharField(label=_("Name"), max_length=100)
    email = forms.EmailField(label=pgettext_lazy("field", "E-mail"), required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=20, required=False)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)
    team = forms.ModelChoiceField(
        label=_("Team"), queryset=Team.objects.order_by("name"), required=False
    )
    daily_capacity = forms.IntegerField(
        label=_("Tasks a day"), min_value=0, max_value=500, initial=30
    )
    languages = forms.CharField(
        label=_("Languages"),
        required=False,
        max_length=300,
        help_text=_("Separate with commas, e.g. 普通话, 粤语, English"),
    )
    product_categories = forms.CharField(label=_("Product lines"), required=False, max_length=500)
    regions = forms.CharField(label=_("Regions"), required=False, max_length=500)
    time_zone = forms.CharField(label=_("Time zone"), max_length=64, initial="Asia/Shanghai")
    work_days = forms.TypedMultipleChoiceField(
        label=_("Working days"),
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        initial=[0, 1, 2, 3, 4],
    )
    work_start = forms.TimeField(
        label=_("From"),
        initial="09:00",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    work_end = forms.TimeField(
        label=_("Until"),
        initial="18:00",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    on_leave = forms.BooleanField(label=_("On leave: no new tasks"), required=False)
    leave_until = forms.DateField(
        label=_("Back on"),
        required=False,
        validators=[validate_day],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    is_active = forms.BooleanField(
        label=_("Can sign in"),
        required=False,
        initial=True,
        help_text=_("Switched off, the account keeps its history but cannot sign in."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)

    def clean_time_zone(self) -> str:
        return _zone(self.cleaned_data["time_zone"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end, days = data.get("work_start"), data.get("work_end"), data.get("work_days")
        if start and end and days:
            try:
                validate_working_hours(
                    {"days": days, "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}
                )
            except ValidationError as exc:
                self.add_error("work_end", exc)
        return data

    @classmethod
    def initial_for(cls, user: Any) -> dict[str, Any]:
        profile = user.staff_profile
        hours = profile.working_hours or {}
        return {
            "display_name": profile.display_name or user.get_full_name() or user.get_username(),
            "email": user.email,
            "mobile": profile.mobile,
            "role": role_of(user),
            "team": profile.team_id,
            "daily_capacity": profile.daily_capacity,
            "languages": ", ".join(profile.languages or []),
            "product_categories": ", ".join(profile.product_categories or []),
            "regions": ", ".join(profile.regions or []),
            "time_zone": profile.time_zone,
            "work_days": hours.get("days", [0, 1, 2, 3, 4]),
            "work_start": hours.get("start", "09:00"),
            "work_end": hours.get("end", "18:00"),
            "on_leave": profile.on_leave,
            "leave_until": profile.leave_until,
            "is_active": user.is_active,
        }


class NewStaffForm(StaffForm):
    username = forms.CharField(
        label=_("Username"),
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text=_("What they sign in with: letters, digits and @ . + - _"),
    )
    field_order = ["username", "display_name", "email", "mobile", "role", "team"]

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise ValidationError(_("Someone already signs in as “%(name)s”.") % {"name": username})
        return username


@transaction.atomic
def create_staff(
    data: dict[str, Any], *, actor: Any, request: HttpRequest | None
) -> tuple[Any, str]:
    """A new member of staff with a password made for them; returns (user, password). The
    password is shown once to the administrator and must be changed at the first sign-in."""
    user = get_user_model().objects.create_user(data["username"], data.get("email") or "")
    password = generate_password(user)
    user.set_password(password)
    user.save(update_fields=["password"])
    StaffProfile.objects.create(user=user, must_change_password=True)
    _apply(user, data)
    record(
        "staff",
        "created",
        actor=actor,
        request=request,
        target=user,
        details={"role": data["role"], "team": data["team"].key if data.get("team") else ""},
    )
    return user, password


@transaction.atomic
def update_staff(
    user: Any, data: dict[str, Any], *, actor: Any, request: HttpRequest | None
) -> list[str]:
    """Save an administrator's changes; returns the names of what changed (audited)."""
    before = StaffForm.initial_for(user)
    _apply(user, data)
    after = StaffForm.initial_for(get_user_model().objects.get(pk=user.pk))
    changed = sorted(k for k in after if str(after[k]) != str(before[k]))
    if changed:
        record(
            "staff",
            "changed",
            actor=actor,
            request=request,
            target=user,
            details={"fields": changed},
        )
    return changed


def _apply(user: Any, data: dict[str, Any]) -> None:
    groups = ensure_role_groups()
    user.email = data.get("email") or ""
    user.is_active = bool(data.get("is_active", True))
    user.save(update_fields=["email", "is_active"])
    user.groups.remove(*[groups[r.value] for r in Role])
    user.groups.add(groups[data["role"]])
    profile = user.staff_profile
    profile.display_name = data["display_name"].strip()
    profile.mobile = data.get("mobile") or ""
    profile.team = data.get("team")
    profile.daily_capacity = data["daily_capacity"]
    profile.languages = _words(data.get("languages", ""))
    profile.product_categories = _words(data.get("product_categories", ""))
    profile.regions = _words(data.get("regions", ""))
    profile.time_zone = data["time_zone"]
    profile.working_hours = {
        "days": sorted(data["work_days"]),
        "start": f"{data['work_start']:%H:%M}",
        "end": f"{data['work_end']:%H:%M}",
    }
    profile.on_leave = bool(data.get("on_leave"))
    profile.leave_until = data.get("leave_until") if profile.on_leave else None
    profile.save()


def reset_password(user: Any, *, actor: Any, request: HttpRequest | None) -> str:
    """A new password made for ``user``, to be changed at their next sign-in; their sessions
    end (Django checks each session's copy of the password hash)."""
    password = generate_password(user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        StaffProfile.objects.filter(user=user).update(must_change_password=True)
        record("staff", "password reset", actor=actor, request=request, target=user)
    return password


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "key", "supervisor"]
        help_texts = {"key": _("Letters, digits and hyphens; rules name the team by it.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["supervisor"].queryset = (  # type: ignore[attr-defined]
            get_user_model()
            .objects.filter(is_active=True, groups__name__in=[Role.SUPERVISOR, Role.ADMIN])
            .distinct()
            .order_by("username")
        )
        bootstrap(self)


class OwnProfileForm(forms.Form):
    """What every member of staff keeps up to date themselves."""

    display_name = forms.CharField(label=_("Name"), max_length=100)
    email = forms.EmailField(label=pgettext_lazy("field", "E-mail"), required=False)
    mobile = forms.CharField(label=_("Mobile"), max_length=20, required=False)
    time_zone = forms.CharField(label=_("Time zone"), max_length=64)
    notify_channels = forms.MultipleChoiceField(
        label=_("Tell me about my work by"),
        choices=CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "The bell always works; a robot or e-mail that is not set up falls back to it."
        ),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        profile = user.staff_profile
        initial = {
            "display_name": profile.display_name or user.get_username(),
            "email": user.email,
            "mobile": profile.mobile,
            "time_zone": profile.time_zone,
            "notify_channels": profile.notify_channels or [IN_APP],
        }
        for channel, (key, _label) in CONTACT_IDS.items():
            initial[f"contact_{channel}"] = (profile.contact_ids or {}).get(key, "")
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        for channel, (_key, label) in CONTACT_IDS.items():
            self.fields[f"contact_{channel}"] = forms.CharField(
                label=label, max_length=100, required=False
            )
        self.user = user
        bootstrap(self)

    def clean_time_zone(self) -> str:
        return _zone(self.cleaned_data["time_zone"])

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "email" in (data.get("notify_channels") or []) and not data.get("email"):
            self.add_error("email", _("Give an address to be told by e-mail."))
        return data

    def save(self, request: HttpRequest) -> None:
        data = self.cleaned_data
        user, profile = self.user, self.user.staff_profile
        with transaction.atomic():
            user.email = data.get("email") or ""
            user.save(update_fields=["email"])
            profile.display_name = data["display_name"].strip()
            profile.mobile = data.get("mobile") or ""
            profile.time_zone = data["time_zone"]
            profile.notify_channels = list(data.get("notify_channels") or [])
            ids = dict(profile.contact_ids or {})
            for channel, (key, _label) in CONTACT_IDS.items():
                value = (data.get(f"contact_{channel}") or "").strip()
                if value:
                    ids[key] = value
                else:
                    ids.pop(key, None)
            profile.contact_ids = ids
            profile.save()
            record("staff", "own profile changed", request=request, target=user)


def all_staff() -> Any:
    return (
        get_user_model()
        .objects.filter(staff_profile__isnull=False)
        .select_related("staff_profile__team")
        .prefetch_related("groups")
        .order_by("-is_active", "staff_profile__team__name", "staff_profile__display_name")
    )
