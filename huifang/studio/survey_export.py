"""A questionnaire's filtered responses as CSV or Excel (xlsx): one row per response, a column
per question, labelled as the version document words it.

The writing itself — streamed CSV, xlsx in constant memory, formula cells neutralised — is
``huifang.core.exports``. Phone numbers are masked unless the user may reveal them and asked to
(the caller decides and audits).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponseBase
from django.utils.translation import gettext as _

from huifang.accounts.models import Team
from huifang.core.exports import csv_response, neutral, xlsx_response
from huifang.customers.models import Channel
from huifang.customers.phones import mask_phone
from huifang.organisation.zones import organisation_zone
from huifang.rules.models import Rule
from huifang.surveys.document import Question
from huifang.surveys.models import Response

from .survey_figures import Filters, answered, questions_of

CHUNK = 2000


@dataclass
class Made:
    response: HttpResponseBase
    rows: int


def export(filters: Filters, kind: str, *, reveal: bool) -> Made:
    questions = questions_of(filters)
    found = answered(filters)
    count = found.count()
    lines = _lines(filters, questions, found, reveal=reveal)
    name = f"{filters.survey.key}-results"
    if kind == "xlsx":
        return Made(xlsx_response(lines, name, _("Responses")), count)
    return Made(csv_response(lines, name), count)


def lines_of(filters: Filters, *, reveal: bool) -> tuple[Iterator[list[Any]], int]:
    """The lines of the export (the header first) and how many responses they hold: for
    writing to a file of one's own (``huifang export answers``)."""
    found = answered(filters)
    return _lines(filters, questions_of(filters), found, reveal=reveal), found.count()


def header(questions: Iterable[Question]) -> list[str]:
    return [
        _("Response"),
        _("Version"),
        _("Submitted at"),
        _("Channel"),
        _("Strategy"),
        _("Team"),
        _("Province"),
        _("City"),
        _("Customer"),
        _("Phone"),
        *(question.title for question in questions),
    ]


def _lines(
    filters: Filters, questions: list[Question], found: Any, *, reveal: bool
) -> Iterator[list[Any]]:
    yield header(questions)
    zone = organisation_zone()
    rules = dict(Rule.objects.values_list("id", "name"))
    teams = dict(Team.objects.values_list("id", "name"))
    channels = dict(Channel.choices)
    numbers = {v.pk: v.number for v in filters.versions}
    rows = (
        found.select_related("customer")
        .only(
            "id",
            "version_id",
            "submitted_at",
            "channel",
            "rule_id",
            "team_id",
            "answers",
            "customer__name",
            "customer__phone",
            "customer__province",
            "customer__city",
        )
        .order_by("submitted_at", "id")
        .iterator(chunk_size=CHUNK)
    )
    response: Response
    for response in rows:
        customer = response.customer
        phone = (
            (customer.phone if reveal else mask_phone(customer.phone))
            if customer and customer.phone
            else ""
        )
        submitted = response.submitted_at.astimezone(zone) if response.submitted_at else None
        yield [
            response.pk,
            numbers.get(response.version_id, ""),
            submitted.strftime("%Y-%m-%d %H:%M:%S") if submitted else "",
            str(channels.get(response.channel, response.channel)),
            rules.get(response.rule_id, "") if response.rule_id else "",
            teams.get(response.team_id, "") if response.team_id else "",
            customer.province if customer else "",
            customer.city if customer else "",
            customer.name if customer else "",
            phone,
            *(cell(q, response.answers.get(q.id)) for q in questions),
        ]


def cell(question: Question, value: Any) -> Any:
    """An answer as a spreadsheet shows it: options by their labels, a matrix as
    ``row: column`` pairs, numbers as numbers."""
    if value is None:
        return ""
    labels = {o.value: o.label for o in question.options or []}
    if question.type == "single_choice":
        return labels.get(value, value)
    if question.type == "multiple_choice" and isinstance(value, list):
        return "; ".join(str(labels.get(v, v)) for v in value)
    if question.type == "matrix" and isinstance(value, dict):
        rows = {o.value: o.label for o in question.rows or []}
        columns = {o.value: o.label for o in question.columns or []}
        return "; ".join(f"{rows.get(r, r)}: {columns.get(c, c)}" for r, c in value.items())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return str(value)


__all__ = ["CHUNK", "Made", "cell", "export", "header", "lines_of", "neutral"]
