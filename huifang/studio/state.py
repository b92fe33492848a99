"""Pause, resume and archive a rule from its page (the command line's ``huifang rules pause``
and friends), each with the reason kept in the rule's history and the audit log."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from huifang.engine.lifecycle import archive, pause, resume
from huifang.rules.models import Rule

from .access import editors

# Each change: the statuses it applies to, whether a reason is required, what it does.
CHANGES: dict[str, tuple[tuple[str, ...], bool, Callable[..., int]]] = {
    "pause": ((Rule.Status.ACTIVE,), True, pause),
    "resume": ((Rule.Status.PAUSED,), False, resume),
    "archive": ((Rule.Status.DRAFT, Rule.Status.ACTIVE, Rule.Status.PAUSED), True, archive),
}
DONE = {
    "pause": gettext_lazy("Paused. Nothing new starts and pending steps wait until it is resumed."),
    "resume": gettext_lazy(
        "Running again. Steps that fell due meanwhile run now if still in time."
    ),
    "archive": gettext_lazy(
        "Archived. Customers part-way have left it; the history stays, and it can be "
        "activated again from its preview."
    ),
}


def changes_for(rule: Rule) -> list[str]:
    """The changes the rule's page offers for its status."""
    return [name for name, (statuses, _reason, _do) in CHANGES.items() if rule.status in statuses]


@require_POST
@editors
def change_state(request: HttpRequest, key: str, change: str) -> HttpResponse:
    rule = get_object_or_404(Rule, key=key)
    if change not in CHANGES:
        messages.error(request, _("Unknown change: %(change)s.") % {"change": change})
        return redirect("rules:detail", key=rule.key)
    statuses, needs_reason, do = CHANGES[change]
    reason = request.POST.get("reason", "").strip()[:200]
    if rule.status not in statuses:
        messages.error(
            request,
            _("Nothing changed: the strategy is %(status)s now.")
            % {"status": rule.get_status_display()},
        )
    elif needs_reason and not reason:
        messages.error(request, _("Say why, so the team can read it in the history."))
    else:
        do([rule], actor=request.user, comment=reason)
        messages.success(request, str(DONE[change]))
    return redirect("rules:detail", key=rule.key)
