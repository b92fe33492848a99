"""What the import page shows of an import of events: the checked rows under their fields'
labels, and what undo did."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.customers.event_types import label_of

from .event_undo import Undone
from .mapping import event_target_for
from .models import Import


def event_preview(batch: Import) -> list[dict[str, Any]]:
    """The first rows of a checked events file, as the page lists them (personal details were
    masked when the check stored them)."""
    rows = []
    for row in batch.summary.get("preview", []):
        when = timezone.localtime(datetime.fromisoformat(row["occurred_at"]))
        who = "、".join(row["who"].get(k, "") for k in ("name", "external_id", "phone", "email"))
        fields: list[dict[str, Any]] = [
            {"label": _("Event type"), "value": label_of(row["type"])},
            {"label": _("When it happened"), "value": f"{when:%Y-%m-%d %H:%M}"},
            {
                "label": _("New customer") if row["new_customer"] else _("Customer"),
                "value": who.strip("、"),
            },
        ]
        for key, value in row["properties"].items():
            target = event_target_for(key) or event_target_for(f"properties.{key}")
            fields.append({"label": target.label if target is not None else key, "value": value})
        how = "repeated" if row["repeated"] else "added"
        rows.append({"row": row["row"], "how": how, "fields": fields})
    return rows


def undone_message(result: Any) -> str:
    assert isinstance(result, Undone)
    return _(
        "Import undone: %(removed)s events removed, %(customers)s customers it added removed, "
        "%(kept)s events kept."
    ) % {"removed": result.removed, "customers": result.restored, "kept": len(result.kept)}
