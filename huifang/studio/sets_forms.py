"""Forms of the strategy-set pages: a set, a switch now, a switch at a time, a preview."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django import forms
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from huifang.core.limits import validate_moment
from huifang.engine.lifecycle import InFlight
from huifang.organisation.zones import organisation_zone
from huifang.rules.models import Rule, StrategySet

KEY = re.compile(r"^[a-z0-9][a-z0-9-]{1,79}$")
RESERVED_KEYS = {"new"}  # /rules/sets/new/ is the form for a new set

IN_FLIGHT_CHOICES = [
    (
        InFlight.KEEP,
        _("Keep: plans of the rules that stop wait (and go on if the rule runs again)"),
    ),
    (
        InFlight.MOVE,
        _("Move: plans on an older version of a rule that starts go on with its running one"),
    ),
    (
        InFlight.END,
        _("End: the plans of the rules that stop, and those on older versions, end now"),
    ),
]
PREVIEW_DAYS = [(7, _("7 days")), (14, _("14 days")), (30, _("30 days"))]


class Styled:
    """Bootstrap classes on the widgets, so templates render fields as they are."""

    def style(self) -> None:
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                widget.attrs.setdefault("class", "form-check-input")
                continue
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs.setdefault("class", css)


class RuleChoices(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} ({obj.key}) · {obj.get_status_display()}"


class StrategySetForm(Styled, forms.ModelForm):
    # A plain field: the rule-key check below explains itself better than the slug validator.
    key = forms.CharField(label=_("Key"), max_length=80)
    rules = RuleChoices(
        label=_("Rules"),
        queryset=Rule.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("These rules run when the set is switched on; every other rule is paused."),
    )

    class Meta:
        model = StrategySet
        fields = ["name", "key", "description", "rules"]
        labels = {"name": _("Name"), "key": _("Key"), "description": _("Description")}
        help_texts = {
            "key": _("Lowercase letters, digits and “-”, e.g. double-11. It cannot change later."),
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        members = self.instance.rules.all() if self.instance.pk else Rule.objects.none()
        # Retired rules are offered only to the sets that still hold them.
        rules = self.fields["rules"]
        assert isinstance(rules, RuleChoices)
        rules.queryset = Rule.objects.filter(
            ~Q(status=Rule.Status.ARCHIVED) | Q(pk__in=members.values("pk"))
        ).order_by("name", "key")
        if self.instance.pk:
            self.fields["key"].disabled = True
            self.fields["key"].help_text = ""
        self.style()

    def clean_key(self) -> str:
        key = str(self.cleaned_data["key"])
        if self.instance.pk:
            return str(self.instance.key)
        if not KEY.match(key):
            raise forms.ValidationError(
                _("Use 2–80 lowercase letters, digits and “-”, starting with a letter or digit.")
            )
        if key in RESERVED_KEYS:
            raise forms.ValidationError(
                _("“%(key)s” is reserved; choose another key."), params={"key": key}
            )
        return key


class SwitchForm(Styled, forms.Form):
    comment = forms.CharField(
        label=_("Comment"),
        max_length=200,
        help_text=_("Why, for the history of every rule it changes, e.g. 618 大促开始"),
    )
    in_flight = forms.ChoiceField(
        label=_("Customers part-way through"),
        choices=IN_FLIGHT_CHOICES,
        initial=InFlight.KEEP,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style()


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ScheduleForm(SwitchForm):
    at = forms.DateTimeField(
        label=_("Switch at"), widget=LocalDateTimeInput(), validators=[validate_moment]
    )

    field_order = ["at", "comment", "in_flight"]

    def __init__(self, *args: Any, now: datetime, **kwargs: Any) -> None:
        self.now = now
        super().__init__(*args, **kwargs)
        self.fields["at"].help_text = _("In the organisation’s time zone, %(zone)s.") % {
            "zone": settings.TIME_ZONE
        }

    def clean_at(self) -> datetime:
        value: datetime = self.cleaned_data["at"]
        # Entered in the organisation's zone whatever zone the request runs in; stored in UTC.
        naive = timezone.make_naive(value) if timezone.is_aware(value) else value
        at = naive.replace(tzinfo=organisation_zone())
        if at <= self.now:
            raise forms.ValidationError(_("Choose a time in the future."))
        return at


class PreviewForm(forms.Form):
    days = forms.TypedChoiceField(
        label=_("Days"), choices=PREVIEW_DAYS, coerce=int, initial=14, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["days"].widget.attrs["class"] = "form-select form-select-sm"
