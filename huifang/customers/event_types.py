"""The registry of event types: built-in ones registered at start-up, custom ones in the database.

A type says how an event feeds the customer's derived figures: a purchase adds to spend, a
reply counts as contact, a survey answer carries a satisfaction score.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from huifang.core.registry import Registry


@dataclass(frozen=True)
class EventType:
    key: str
    label: str | Promise
    description: str | Promise = ""
    is_purchase: bool = False  # adds to order count and spend, ``properties.amount`` required
    is_contact: bool = False  # a two-way interaction: updates "last contact at"
    is_reply: bool = False  # the customer answered us: updates "last reply at"
    is_complaint: bool = False
    has_score: bool = False  # ``properties.score`` is a satisfaction score
    builtin: bool = True


event_types: Registry[EventType] = Registry("event types")

PURCHASE = "purchase"
MESSAGE_REPLIED = "message_replied"
COMPLAINT = "complaint"


def register_builtin_types() -> None:
    if PURCHASE in event_types:
        return
    for entry in (
        EventType(PURCHASE, _("Purchase"), _("An order was paid."), is_purchase=True),
        EventType("order_delivered", _("Order delivered"), _("An order reached the customer.")),
        EventType(
            "service_completed",
            _("Service completed"),
            _("A treatment, repair or installation was finished."),
            is_contact=True,
        ),
        EventType(
            "ticket_closed", _("Ticket closed"), _("A support ticket was closed."), is_contact=True
        ),
        EventType(
            COMPLAINT,
            _("Complaint"),
            _("The customer complained."),
            is_contact=True,
            is_complaint=True,
        ),
        EventType("contract_signed", _("Contract signed")),
        EventType(
            "contract_ends", _("Contract ends"), _("A contract's end date, in properties.ends_on.")
        ),
        EventType(
            "visit", _("Visit"), _("The customer visited a shop or clinic."), is_contact=True
        ),
        EventType("page_view", _("Page view")),
        EventType("download", _("Download")),
        EventType("event_attended", _("Event attended"), is_contact=True),
        EventType(
            "survey_answered", _("Survey answered"), is_contact=True, is_reply=True, has_score=True
        ),
        EventType(MESSAGE_REPLIED, _("Message replied"), is_contact=True, is_reply=True),
        EventType(
            "unsubscribed", _("Unsubscribed"), _("The customer withdrew consent for a channel.")
        ),
        EventType(
            "link_clicked",
            _("Link clicked"),
            _("The customer opened a link in a message (through its short link)."),
        ),
        EventType(
            "consent_changed",
            _("Consent changed"),
            _("Consent for a channel was given or withdrawn."),
        ),
    ):
        event_types.register(entry)


def builtin_keys() -> set[str]:
    return set(event_types.keys())


def resolve(key: str) -> EventType | None:
    """A built-in type, or a custom type defined by an admin."""
    found = event_types.get(key)
    if found is not None:
        return found
    from .models import CustomEventType

    custom = CustomEventType.objects.filter(key=key).first()
    if custom is None:
        return None
    return EventType(
        key=custom.key,
        label=custom.name,
        description=custom.description,
        is_contact=custom.is_contact,
        builtin=False,
    )


def label_of(key: str) -> str:
    """What pages call the event type ``key``: its label, a custom type's name, else the key."""
    entry = resolve(key) if key else None
    return str(entry.label) if entry is not None else key
