"""A rule's trigger in one line of words, for the rule list and the rule page: "购买后 3 天",
"每 1 个月", "生日前 7 天" — never the document's codes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _

from huifang.core.durations import duration_text
from huifang.customers.event_types import label_of
from huifang.customers.models import Customer

from .builder import TRIGGER_LABELS


def _field(name: str) -> str:
    """A customer field by its name on the customer page; a custom attribute by its key."""
    if not name:
        return ""
    if name.startswith("attributes."):
        return name.removeprefix("attributes.")
    try:
        field = Customer._meta.get_field(name)
    except FieldDoesNotExist:
        return name
    return str(getattr(field, "verbose_name", name))


def trigger_text(trigger: Any) -> str:
    if not isinstance(trigger, dict):
        return ""
    kind = trigger.get("kind", "")
    if kind == "event" and trigger.get("event"):
        event = label_of(str(trigger.get("event") or ""))
        delay = duration_text(trigger.get("delay"))
        if delay:
            return _("%(delay)s after %(event)s") % {"event": event, "delay": delay}
        return _("On %(event)s") % {"event": event}
    if kind == "date":
        field, event = str(trigger.get("field") or ""), str(trigger.get("event") or "")
        source = _field(field) or label_of(event)
        offset = duration_text(trigger.get("offset"))
        if not offset:
            return _("On the date of %(source)s") % {"source": source}
        words = (
            _("%(offset)s before %(source)s")
            if trigger.get("before")
            else _("%(offset)s after %(source)s")
        )
        return words % {"offset": offset, "source": source}
    if kind == "recurring":
        return _("Every %(every)s") % {"every": duration_text(trigger.get("every")) or "—"}
    return str(TRIGGER_LABELS.get(kind, kind))
