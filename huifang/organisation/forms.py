from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from huifang.customers.models import Channel

from .models import OrganisationSettings

MAX_UPLOAD_BYTES = 256 * 1024


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **kwargs)


class Styled:
    """Bootstrap classes on the widgets, ``is-invalid`` on the ones whose field has an error."""

    def style(self, errors: Any = ()) -> None:
        form: Any = self
        for name, field in form.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxSelectMultiple | forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            if name in errors:
                css += " is-invalid"
            widget.attrs["class"] = css

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        self.style(self._errors)  # type: ignore[attr-defined]


class OrganisationForm(Styled, forms.ModelForm):
    working_days = forms.TypedMultipleChoiceField(
        label=_("Working days"),
        choices=[(str(n), WEEKDAYS[n]) for n in range(7)],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Tick at least one working day.")},
    )

    class Meta:
        model = OrganisationSettings
        fields = [
            "name",
            "quiet_start",
            "quiet_end",
            "working_days",
            "working_start",
            "working_end",
            "sms_signature",
            "team_scoped_customers",
        ]
        widgets = {
            "quiet_start": TimeInput(),
            "quiet_end": TimeInput(),
            "working_start": TimeInput(),
            "working_end": TimeInput(),
        }
        labels = {
            "quiet_start": _("Quiet from"),
            "quiet_end": _("Quiet until"),
            "working_start": _("Working day starts"),
            "working_end": _("Working day ends"),
            "name": _("Organisation name"),
            "sms_signature": _("Default SMS signature"),
            "team_scoped_customers": _("Agents and supervisors see only their teams' customers"),
        }
        help_texts = {
            "name": _(
                "As customers know you: named on the pages they open from a message, such as "
                "the unsubscribe page. Empty: the SMS signature is used."
            ),
            "quiet_end": _(
                "In each customer's own time zone. A window may wrap midnight (21:00 to 08:00); "
                "the same start and end means no quiet hours. A rule's own quiet hours win."
            ),
            "working_end": _(
                "For follow-up tasks of no team; teams keep their own hours. Statutory holidays "
                "and 调休 working days come from the calendar."
            ),
            "sms_signature": _(
                "2 to 12 characters, without 【】. Used when neither the template nor the SMS "
                "provider has a signature of its own."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["working_days"] = [str(d) for d in self.instance.working_days]
        self.style()

    def clean_name(self) -> str:
        return " ".join(str(self.cleaned_data["name"]).split())

    def clean_sms_signature(self) -> str:
        signature = str(self.cleaned_data["sms_signature"]).strip().strip("【】").strip()
        if signature and (not 2 <= len(signature) <= 12 or "【" in signature or "】" in signature):
            raise ValidationError(_("An SMS signature is 2 to 12 characters, without 【】."))
        return signature

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("working_start"), cleaned.get("working_end")
        if start is not None and end is not None and start >= end:
            self.add_error("working_end", _("The working day must end after it starts."))
        return cleaned


CAP_CHANNELS = [("", "—"), ("any", _("Any channel")), *Channel.choices]


class CapForm(Styled, forms.Form):
    """One default cap; a row left blank is no cap."""

    channel = forms.ChoiceField(label=_("Channel"), choices=CAP_CHANNELS, required=False)
    max = forms.IntegerField(label=_("At most"), min_value=1, max_value=100, required=False)
    per_days = forms.IntegerField(
        label=_("Messages per (days)"), min_value=1, max_value=365, required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style()

    @property
    def blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(data.get(name) for name in ("channel", "max", "per_days"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.blank or self.errors:
            return cleaned
        for name in ("channel", "max", "per_days"):
            if not cleaned.get(name):
                self.add_error(name, _("Fill in the channel, the number and the days, or none."))
        return cleaned


class BaseCapFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        seen: set[tuple[str, int]] = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or form.errors or form.blank:  # type: ignore[attr-defined]
                continue
            key = (form.cleaned_data["channel"], form.cleaned_data["per_days"])
            if key in seen:
                form.add_error("channel", _("The same cap is given twice."))
            seen.add(key)

    def caps(self) -> list[tuple[str, int, int]]:
        return [
            (f.cleaned_data["channel"], f.cleaned_data["max"], f.cleaned_data["per_days"])
            for f in self.forms
            if not f.blank  # type: ignore[attr-defined]
        ]


CapFormSet: type[BaseCapFormSet] = forms.formset_factory(  # type: ignore[assignment]
    CapForm, formset=BaseCapFormSet, extra=2, max_num=10, validate_max=True, absolute_max=10
)


def cap_initial(caps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"channel": c["channel"], "max": c["max"], "per_days": c["per_days"]} for c in caps]


class ImportForm(Styled, forms.Form):
    file = forms.FileField(
        label=_("Schedule file"),
        required=False,
        help_text=_("A .csv or .txt file in UTF-8 or GBK."),
    )
    text = forms.CharField(
        label=_("Or paste the lines"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "2027-01-01,holiday,元旦"}),
    )
    official = forms.BooleanField(
        label=_("This is the year's whole official schedule"),
        required=False,
        initial=True,
        help_text=_("The warning about the year then goes away."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style()

    def clean_file(self) -> str:
        upload = self.cleaned_data.get("file")
        if not upload:
            return ""
        if upload.size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                _("The file is larger than %(size)d KB.") % {"size": MAX_UPLOAD_BYTES // 1024}
            )
        raw = upload.read()
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return str(raw.decode(encoding))
            except UnicodeDecodeError:
                continue
        raise ValidationError(_("The file is neither UTF-8 nor GBK text."))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "file" in cleaned and not cleaned.get("file") and not cleaned.get("text", "").strip():
            self.add_error("file", _("Choose a file or paste the lines."))
        return cleaned

    @property
    def schedule(self) -> str:
        return str(self.cleaned_data.get("file") or self.cleaned_data.get("text") or "")
