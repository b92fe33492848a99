from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from huifang.accounts.assignment import strategy_choices
from huifang.accounts.models import Team
from huifang.core.limits import validate_day, validate_moment
from huifang.messaging.rendering import MAX_SCRIPT_CHARS
from huifang.rules.models import Rule

from .models import Task
from .outcomes import NextAction, Report


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class Styled:
    """Bootstrap classes on the widgets, so templates render fields as they are."""

    def style(self) -> None:
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                continue
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
                continue
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs.setdefault("class", css)


SCORES = [("", "—")] + [(str(n), str(n)) for n in range(1, 6)]
ACTIONS = [
    (NextAction.TICKET, _("Create a service ticket")),
    (NextAction.OPPORTUNITY, _("Hand off to sales (opportunity)")),
    (NextAction.REVISIT, _("Schedule a re-visit")),
    (NextAction.RULE, _("Start a rule")),
]
_TAG_SPLIT = re.compile(r"[,，、;；\s]+")


class OutcomeForm(Styled, forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"), choices=Task.Outcome.choices, widget=forms.RadioSelect
    )
    score = forms.TypedChoiceField(
        label=_("Satisfaction (1–5)"),
        choices=SCORES,
        coerce=int,
        empty_value=None,
        required=False,
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=300,
        help_text=_("Separate with commas, e.g. 物流慢, 包装破损"),
    )
    call_back_at = forms.DateTimeField(
        validators=[validate_moment],
        label=_("Call back at"),
        required=False,
        widget=LocalDateTimeInput(),
    )
    actions = forms.MultipleChoiceField(
        label=_("Next actions"),
        choices=ACTIONS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    revisit_at = forms.DateTimeField(
        validators=[validate_moment],
        label=_("Re-visit at"),
        required=False,
        widget=LocalDateTimeInput(),
    )
    rule = forms.ModelChoiceField(
        label=_("Rule to start"),
        queryset=Rule.objects.filter(status=Rule.Status.ACTIVE).order_by("name"),
        required=False,
    )
    confirm = forms.BooleanField(
        label=_("Yes, I confirm: withdraw consent and cancel the pending messages"),
        required=False,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.style()

    def report(self) -> Report:
        data = self.cleaned_data
        return Report(
            outcome=data["outcome"],
            score=data.get("score"),
            notes=data.get("notes", ""),
            tags=[t for t in _TAG_SPLIT.split(data.get("tags", "")) if t],
            call_back_at=data.get("call_back_at"),
            actions=data.get("actions", []),
            revisit_at=data.get("revisit_at"),
            rule=data.get("rule"),
            confirmed=bool(data.get("confirm")),
        )


def staff_choices(team_ids: set[int] | None) -> Any:
    users = get_user_model().objects.filter(is_active=True, staff_profile__isnull=False)
    if team_ids is not None:
        users = users.filter(staff_profile__team_id__in=team_ids)
    return users.select_related("staff_profile").order_by("staff_profile__display_name", "username")


class StaffChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.staff_profile.name


class ReassignForm(Styled, forms.Form):
    to = StaffChoiceField(
        label=_("Give to"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("— the team queue (unassigned) —"),
    )
    reason = forms.CharField(label=_("Reason"), max_length=500)

    def __init__(self, *args: Any, team_ids: set[int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].queryset = staff_choices(team_ids)  # type: ignore[attr-defined]
        self.style()


class NewTaskForm(Styled, forms.Form):
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        help_text=_("{{客户姓名}} is replaced by each customer's name."),
    )
    reason = forms.CharField(
        label=_("Why"),
        required=False,
        max_length=300,
        help_text=_("What the agent reads first: e.g. 客户来电投诉物流慢，确认是否已解决。"),
    )
    script = forms.CharField(
        label=_("Script / talking points"),
        required=False,
        max_length=MAX_SCRIPT_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=Task.Priority.choices, initial=Task.Priority.NORMAL
    )
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none())
    strategy = forms.ChoiceField(label=_("Assignment"), required=False)
    assignee = StaffChoiceField(
        label=_("Or give to"),
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label=_("— by the assignment strategy —"),
    )
    due_at = forms.DateTimeField(
        validators=[validate_moment],
        label=_("Due at"),
        required=False,
        widget=LocalDateTimeInput(),
        help_text=_("Empty: the team's SLA for this priority, in working hours."),
    )

    def __init__(self, *args: Any, teams: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        self.fields["strategy"].choices = [("", _("— the team's strategy —")), *strategy_choices()]  # type: ignore[attr-defined]
        self.fields["assignee"].queryset = staff_choices(set(teams.values_list("id", flat=True)))  # type: ignore[attr-defined]
        self.style()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        assignee, team = data.get("assignee"), data.get("team")
        if assignee is not None and team is not None and assignee.staff_profile.team_id != team.pk:
            self.add_error("assignee", _("Choose someone in the chosen team."))
        return data


class LeaveForm(forms.Form):
    on_leave = forms.BooleanField(label=_("On leave"), required=False)
    until = forms.DateField(
        validators=[validate_day],
        label=_("Until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
