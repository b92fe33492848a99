"""A questionnaire's filtered responses as CSV or Excel (xlsx): one row per response, a column
per question, labelled as the version document words it.

Both formats are written as the rows are read (``iterator``), so memory stays bounded by a
chunk of rows whatever the number of responses: the CSV is streamed to the browser, the xlsx
is written by XlsxWriter in its ``constant_memory`` mode to a temporary file that spills to
disk past a few megabytes. Every text cell is neutralised against formula injection (a cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``),
in the xlsx too, where a reader may copy a cell into a formula. Phone numbers are masked
unless the user may reveal them and asked to (the caller decides and audits).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import xlsxwriter
from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.translation import gettext as _

from huifang.accounts.models import Team
from huifang.customers.models import Channel
from huifang.customers.phones import mask_phone
from huifang.organisation.zones import organisation_zone
from huifang.rules.models import Rule
from huifang.surveys.document import Question
from huifang.surveys.models import Response

from .survey_figures import Filters, answered, questions_of

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000
SPILL = 8 * 1024 * 1024  # bytes of xlsx kept in memory before the temporary file goes to disk


def neutral(value: Any) -> Any:
    """A cell as written: numbers as they are, text with a leading ``'`` when a spreadsheet
    would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = str(value)
        return "'" + text if text.startswith(DANGEROUS) else text
    return value


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
        return Made(_xlsx(lines, name), count)
    return Made(_csv(lines, name), count)


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


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv(lines: Iterator[list[Any]], name: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff"  # so that Excel reads the file as UTF-8
        for line in lines:
            yield writer.writerow([neutral(v) for v in line])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def _xlsx(lines: Iterator[list[Any]], name: str) -> FileResponse:
    output = tempfile.SpooledTemporaryFile(max_size=SPILL)  # noqa: SIM115 - closed by the response
    book = xlsxwriter.Workbook(
        output,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    sheet = book.add_worksheet(_("Responses")[:31])
    for row, line in enumerate(lines):
        for column, value in enumerate(line):
            value = neutral(value)
            if isinstance(value, str):
                sheet.write_string(row, column, value)
            else:
                sheet.write_number(row, column, value)
    book.close()
    output.seek(0)
    return FileResponse(
        output,
        as_attachment=True,
        filename=f"{name}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
