"""The engine's part of a customer's follow-up history: the plans they were enrolled in, why,
and how each ended (``huifang.customers.timeline``)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from huifang.customers.models import Customer
from huifang.customers.timeline import Entry, Source

from .models import Enrollment


def plan_entries(customer: Customer, limit: int) -> list[Entry]:
    entries: list[Entry] = []
    plans = Enrollment.objects.filter(customer=customer).select_related("rule", "version")
    for plan in plans.order_by("-started_at")[:limit]:
        rule = f"{plan.rule.name} v{plan.version.number}"
        entries.append(Entry(plan.started_at, "enrolled", rule, _why(plan)))
        if plan.ended_at:
            entries.append(
                Entry(
                    plan.ended_at, "ended", rule, f"{plan.get_status_display()} · {plan.end_reason}"
                )
            )
    return entries


def _why(plan: Enrollment) -> str:
    kind, _sep, value = plan.anchor.partition(":")
    labels: dict[str, Any] = {
        "event": _("triggered by event #%(value)s"),
        "date": _("date trigger %(value)s"),
        "segment": _("entered the segment %(value)s"),
        "recurring": _("recurring turn %(value)s"),
    }
    label = labels.get(kind)
    return str(label % {"value": value}) if label else plan.anchor


SOURCE = Source("plans", plan_entries)
