"""The import page's forms: the file, then which column fills which field."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from huifang.core.forms import bootstrap
from huifang.customers.event_types import event_types
from huifang.customers.models import CustomEventType
from huifang.rules.conditions import safe_key

from .mapping import CUSTOMER_TARGETS, EVENT_CUSTOMER_KEYS, EVENT_TARGETS
from .models import Import
from .planning import MATCH_KEYS
from .reading import SUFFIXES, column_name

# What fits in one upload (a million rows of a dozen columns is some 40 MB as .xlsx).
MAX_UPLOAD = 100 * 1024 * 1024


class UploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("What the file holds"),
        choices=[
            (Import.Kind.CUSTOMERS, gettext_lazy("Customers, one a row")),
            (Import.Kind.EVENTS, gettext_lazy("Events, one a row: orders, tickets, contracts …")),
        ],
        initial=Import.Kind.CUSTOMERS,
        required=False,
    )
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "An .xlsx, .xls or .csv file (UTF-8 or GBK), one customer or event a row, with a "
            "header row."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(SUFFIXES)}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(
                _("The file is larger than %(limit)s MB; split it into several imports.")
                % {"limit": MAX_UPLOAD // (1024 * 1024)}
            )
        return upload

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        bootstrap(self)


MATCH_LABELS = {
    "external_id": gettext_lazy("Customer number"),
    "phone": gettext_lazy("Phone"),
    "email": pgettext_lazy("field", "E-mail"),
}


def _add_columns(
    form: forms.Form, batch: Import, targets: Any, free: str, free_label: str
) -> list[dict[str, Any]]:
    """A choice per column of the file (its header, a few examples, the field it fills): the
    ``targets``, or ``free``.<header> under ``free_label`` for a header that can be a key."""
    headers: list[str] = batch.summary.get("headers", [])
    samples: list[list[str]] = batch.summary.get("samples", [])
    columns: list[dict[str, Any]] = []
    for index, header in enumerate(headers):
        letter = column_name(index + 1)
        choices = [("", _("— not imported —"))] + [(t.key, str(t.label)) for t in targets]
        if header and safe_key(header) and f"{free}.{header}" not in dict(choices):
            choices.append((f"{free}.{header}", free_label % {"name": header}))
        name = f"column_{letter}"
        form.fields[name] = forms.ChoiceField(
            label=header or letter, choices=choices, required=False
        )
        form.fields[name].initial = batch.mapping.get(letter, "")
        example = [row[index] for row in samples if index < len(row) and row[index]]
        columns.append(
            {"letter": letter, "header": header, "field": form[name], "examples": example[:3]}
        )
    return columns


def _chosen(form: Any, data: dict[str, Any]) -> dict[str, str]:
    """Column letter → field key of the columns chosen; a field chosen twice is an error."""
    chosen: dict[str, str] = {}
    for column in form.columns:
        letter = str(column["letter"])
        key = str(data.get(f"column_{letter}") or "")
        if not key:
            continue
        if key in chosen.values():
            form.add_error(f"column_{letter}", _("Another column fills this field already."))
        chosen[letter] = key
    return chosen


def _save_as() -> forms.CharField:
    return forms.CharField(
        label=gettext_lazy("Save these choices as"),
        required=False,
        max_length=100,
        help_text=gettext_lazy(
            "Optional. The next file with these column names gets the same choices."
        ),
    )


class ColumnsForm(forms.Form):
    """One choice per column of the file, the policy for customers already there, and what
    finds them."""

    policy = forms.ChoiceField(
        label=gettext_lazy("Customers already there"),
        choices=Import.Policy.choices,
        widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
    )
    match_on = forms.MultipleChoiceField(
        label=gettext_lazy("Find them by"),
        choices=list(MATCH_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one way to find them.")},
    )
    save_as = _save_as()

    def __init__(self, *args: Any, batch: Import, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch = batch
        self.columns = _add_columns(
            self, batch, CUSTOMER_TARGETS, "attributes", _("Custom attribute “%(name)s”")
        )
        self.fields["policy"].initial = batch.policy
        self.fields["match_on"].initial = batch.match_on
        bootstrap(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = _chosen(self, data)
        if not any(k in chosen.values() for k in ("name", *MATCH_KEYS)):
            raise forms.ValidationError(
                _("Choose the column of the name, or of the phone, e-mail or customer number.")
            )
        data["mapping"] = chosen
        data["match_on"] = [k for k in MATCH_KEYS if k in data.get("match_on", [])]
        return data


class EventColumnsForm(forms.Form):
    """An events file: one choice per column, the type of its events (or the column holding
    each row's), how customers are found and whether missing ones are added, and whether the
    events start follow-ups."""

    event_type = forms.ChoiceField(
        label=gettext_lazy("Type of the events"),
        required=False,
        help_text=gettext_lazy("Rows whose type column is empty are of this type."),
    )
    match_on = forms.MultipleChoiceField(
        label=gettext_lazy("Find the customer by"),
        choices=list(MATCH_LABELS.items()),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": gettext_lazy("Choose at least one way to find them.")},
    )
    create_customers = forms.BooleanField(
        label=gettext_lazy("Add customers not found (rows that give a name)"), required=False
    )
    fire_rules = forms.BooleanField(
        label=gettext_lazy("Start follow-ups from these events"),
        required=False,
        help_text=gettext_lazy(
            "Off (the default), the events fill in the customers' history and figures and "
            "start no follow-up: last year's orders send no thank-you. On, rules react as to "
            "events from the API; an event too old for a rule's first step starts nothing."
        ),
    )
    save_as = _save_as()

    def __init__(self, *args: Any, batch: Import, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch = batch
        self.columns = _add_columns(
            self, batch, EVENT_TARGETS, "properties", _("Event property “%(name)s”")
        )
        types = self.fields["event_type"]
        assert isinstance(types, forms.ChoiceField)
        types.choices = [("", _("— from the type column —")), *event_type_choices()]
        self.fields["event_type"].initial = batch.event_type
        self.fields["match_on"].initial = batch.match_on
        self.fields["create_customers"].initial = batch.create_customers
        self.fields["fire_rules"].initial = batch.fire_rules
        bootstrap(self)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        chosen = _chosen(self, data)
        if not any(k in chosen.values() for k in EVENT_CUSTOMER_KEYS):
            raise forms.ValidationError(
                _(
                    "Choose the column of the customer number, phone or e-mail that finds the "
                    "customer."
                )
            )
        if "occurred_at" not in chosen.values():
            raise forms.ValidationError(_("Choose the column that says when each event happened."))
        if not data.get("event_type") and "type" not in chosen.values():
            raise forms.ValidationError(
                _("Choose the type of the events, or the column that holds each row's type.")
            )
        data["mapping"] = chosen
        data["match_on"] = [k for k in EVENT_CUSTOMER_KEYS if k in data.get("match_on", [])]
        data["policy"] = Import.Policy.SKIP
        return data


def event_type_choices() -> list[tuple[str, str]]:
    """The built-in event types and the organisation's own, by their names."""
    found = [(entry.key, str(entry.label)) for entry in event_types]
    found += list(CustomEventType.objects.order_by("name").values_list("key", "name"))
    return found
