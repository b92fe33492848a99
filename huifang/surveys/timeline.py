"""The questionnaires' part of a customer's follow-up history (``huifang.customers.timeline``):
each questionnaire the customer answered, with what they answered along their path, and each
one opened but not submitted — so whoever calls the customer reads the answers themselves, not
only the score the event carries."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huifang.customers.event_properties import PropertyType, event_properties
from huifang.customers.models import Channel, Customer
from huifang.customers.timeline import Entry, Source

from .answering import document_of, path, readable
from .models import Response

# What one entry shows of the answers: enough to read them, never a page of text.
DETAIL_CHARS = 400


def response_entries(customer: Customer, limit: int) -> list[Entry]:
    responses = (
        Response.objects.filter(customer=customer)
        .select_related("version__survey")
        .order_by("-started_at", "-id")[:limit]
    )
    return [_entry(response) for response in responses]


def _entry(response: Response) -> Entry:
    version = response.version
    channel = Channel(response.channel).label if response.channel in Channel.values else ""
    title = f"{version.survey.name} v{version.number}"
    if channel:
        title = f"{title} · {channel}"
    if response.submitted_at is None:
        return Entry(
            response.started_at,
            "survey",
            title,
            _("Opened, not submitted yet"),
            label=_("Questionnaire"),
        )
    doc = document_of(response)
    by_id = {question.id: question for question in doc.questions}
    answered = [
        f"{by_id[q].title} {readable(by_id[q], response.answers[q])}"
        for q in path(doc, response.answers)
        if q in response.answers and response.answers[q] not in (None, "", [], {})
    ]
    detail = _("; ").join(answered)
    if len(detail) > DETAIL_CHARS:
        detail = detail[: DETAIL_CHARS - 1] + "…"
    return Entry(response.submitted_at, "survey", title, detail, label=_("Questionnaire"))


SOURCE = Source("surveys", response_entries)


def register_properties() -> None:
    """How a questionnaire's answer event reads on the timeline (its answers are the entry
    above, under "Follow-ups")."""
    if "response" in event_properties:
        return
    for entry in (
        PropertyType("survey", gettext_lazy("Questionnaire")),
        PropertyType("version", gettext_lazy("Version")),
        PropertyType("response", gettext_lazy("Response"), "hidden"),
    ):
        event_properties.register(entry)
