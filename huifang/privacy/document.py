"""The answer to an access request (PIPL Art. 45): every row the database holds about one
customer, in full — it is the customer's own data, handed to them — as one JSON document or
one Excel workbook with a sheet per kind of row.

The rows are ``holdings.rows_about``'s; each is written with every column it has, except the
few that hold other people's data beside theirs (an import's whole file and preview, an API
answer that may list many customers), where only what says the row exists is written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any
from uuid import UUID

import xlsxwriter
from django.apps import apps
from django.db import models

from huifang.core.exports import neutral
from huifang.customers.models import Customer

from .holdings import rows_about

# Models whose rows carry others' data beside the customer's: only these columns are handed.
ONLY = {
    "imports.Import": ("id", "kind", "file_name", "status", "created_at", "finished_at"),
    "api.IdempotentRequest": ("id", "key", "status_code", "created_at"),
}
SHEET = 31  # Excel's longest sheet name


def plain(value: Any) -> Any:
    """A column's value as JSON holds it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def columns(name: str) -> list[models.Field[Any, Any]]:
    fields = apps.get_model(name)._meta.concrete_fields
    only = ONLY.get(name)
    return [f for f in fields if only is None or f.name in only]


def row_of(row: models.Model, fields: list[models.Field[Any, Any]]) -> dict[str, Any]:
    return {f.attname: plain(getattr(row, f.attname)) for f in fields}


def kinds(customer: Customer) -> Iterator[tuple[str, list[str], Iterator[dict[str, Any]]]]:
    """(model label, column names, rows) for every kind of row about the customer."""
    for name, rows in rows_about(customer):
        fields = columns(name)
        yield name, [f.attname for f in fields], (row_of(r, fields) for r in rows.iterator())


def document(customer: Customer, *, now: datetime) -> dict[str, Any]:
    return {
        "customer": customer.pk,
        "generated_at": now.isoformat(),
        "rows": {name: list(rows) for name, _columns, rows in kinds(customer)},
    }


def write_json(customer: Customer, output: IO[bytes], *, now: datetime) -> int:
    """The document into ``output``; returns the rows written."""
    doc = document(customer, now=now)
    output.write(json.dumps(doc, ensure_ascii=False, indent=1, default=str).encode())
    return sum(len(rows) for rows in doc["rows"].values())


def write_xlsx(customer: Customer, output: Any, *, now: datetime) -> int:
    """One sheet per kind of row (named by its model), a header and its rows, formula cells
    neutralised; returns the rows written."""
    book = xlsxwriter.Workbook(
        output,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "in_memory": False,
        },
    )
    written = 0
    for name, header, rows in kinds(customer):
        sheet = book.add_worksheet(name[:SHEET])
        for column, title in enumerate(header):
            sheet.write_string(0, column, title)
        for number, row in enumerate(rows, start=1):
            for column, title in enumerate(header):
                _cell(sheet, number, column, row[title])
            written += 1
    if not book.worksheets():
        book.add_worksheet("customers.Customer")
    book.close()
    return written


def _cell(sheet: Any, row: int, column: int, value: Any) -> None:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    value = neutral(value)
    if isinstance(value, str):
        sheet.write_string(row, column, value)
    else:
        sheet.write_number(row, column, value)
