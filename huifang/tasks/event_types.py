"""The events follow-up work puts on a customer's timeline, registered with the customer event
types at start-up, so rules can be triggered by them like by any other event."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from huifang.customers.event_properties import PropertyType, event_properties
from huifang.customers.event_types import EventType, event_types

from .models import Task


def register() -> None:
    if "followup_reached" in event_types:
        return
    for entry in (
        EventType(
            "followup_reached",
            _("Follow-up: reached"),
            _("An agent spoke to the customer; properties.score is the satisfaction score."),
            is_contact=True,
            has_score=True,
        ),
        EventType("followup_not_reached", _("Follow-up: not reached")),
        EventType(
            "followup_call_back",
            _("Follow-up: call back later"),
            _("The customer asked to be called back."),
            is_contact=True,
            has_score=True,
        ),
        EventType("followup_wrong_number", _("Follow-up: wrong number")),
        EventType(
            "followup_refused",
            _("Follow-up: refused further contact"),
            is_contact=True,
        ),
        EventType(
            "ticket_opened",
            _("Ticket opened"),
            _("A support ticket was opened; properties.ticket_id names it."),
        ),
        EventType(
            "ticket_requested",
            _("Service ticket requested"),
            _("An agent asked for a service ticket after a follow-up."),
        ),
        EventType(
            "sales_opportunity",
            _("Sales opportunity"),
            _("An agent handed the customer to sales after a follow-up."),
        ),
    ):
        event_types.register(entry)


def register_properties() -> None:
    """How the properties of the follow-ups' events read on the customer's timeline."""
    if "outcome" in event_properties:
        return
    for entry in (
        PropertyType("task", _("Task"), "reference"),
        PropertyType("outcome", _("Outcome"), choices=dict(Task.Outcome.choices)),
        PropertyType("agent", _("Agent")),
        PropertyType("notes", _("Notes")),
        PropertyType("tags", _("Tags"), "list"),
        PropertyType("call_back_at", _("Call back at"), "moment"),
        # The rule is named on the task, the kind by the event's type: ids for the system.
        PropertyType("task_kind", _("Kind"), "hidden"),
        PropertyType("rule", _("Rule"), "hidden"),
        PropertyType("rule_key", _("Rule"), "hidden"),
    ):
        event_properties.register(entry)
