"""Tables as CSV or Excel (xlsx) downloads, safe to open in a spreadsheet.

Both formats are written as the lines come (an iterator), so memory stays bounded whatever the
number of rows: the CSV is streamed to the browser, the xlsx is written by XlsxWriter in its
``constant_memory`` mode to a temporary file that spills to disk past a few megabytes. Every
text cell is neutralised against formula injection (a cell starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading ``'``), in the xlsx too, where a reader may
copy a cell into a formula. What the lines hold — masked or not — is the caller's business;
``pages`` reads them from the database a keyset page at a time, so the rows in memory are one
page's whatever the size of the export.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import xlsxwriter
from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000  # rows read by one statement of ``pages``
SPILL = 8 * 1024 * 1024  # bytes of xlsx kept in memory before the temporary file goes to disk
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


_FIRST = frozenset(DANGEROUS)  # each a single character


def neutral(value: Any) -> Any:
    """A cell as written: numbers as they are, text with a leading ``'`` when a spreadsheet
    would read it as a formula. (Called for every cell of a million-row export: the common
    types are tested first, by identity.)"""
    kind = type(value)
    if kind is str:
        return "'" + value if value[:1] in _FIRST else value
    if kind is int or kind is float:
        return value
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = str(value)
        return "'" + text if text[:1] in _FIRST else text
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(lines: Iterable[list[Any]], name: str) -> StreamingHttpResponse:
    """``lines`` streamed as ``name.csv`` (UTF-8 with a byte order mark, for Excel)."""
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff"  # so that Excel reads the file as UTF-8
        for line in lines:
            yield writer.writerow([neutral(v) for v in line])

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


def xlsx_response(lines: Iterable[list[Any]], name: str, sheet_name: str) -> FileResponse:
    """``lines`` as ``name.xlsx``, one sheet called ``sheet_name`` (cut to Excel's 31)."""
    output = tempfile.SpooledTemporaryFile(max_size=SPILL)  # noqa: SIM115 - closed by the response
    write_xlsx(lines, output, sheet_name)
    output.seek(0)
    return FileResponse(output, as_attachment=True, filename=f"{name}.xlsx", content_type=XLSX)


def write_xlsx(lines: Iterable[list[Any]], output: Any, sheet_name: str) -> int:
    """``lines`` into ``output`` (a file or a path) as one sheet; returns the rows written."""
    book = xlsxwriter.Workbook(
        output,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    sheet = book.add_worksheet(sheet_name[:31])
    row = -1
    text, number = sheet.write_string, sheet.write_number
    for row, line in enumerate(lines):
        for column, value in enumerate(line):
            value = neutral(value)
            if value.__class__ is str:
                if value:  # an empty cell is left out: a reader sees it empty all the same
                    text(row, column, value)
            else:
                number(row, column, value)
    book.close()
    return row + 1


def write_csv(lines: Iterable[list[Any]], output: Any) -> int:
    """``lines`` into ``output`` (a text file) as the CSV download is; returns the rows."""
    writer = csv.writer(output)
    output.write("\ufeff")
    count = 0
    for line in lines:
        writer.writerow([neutral(v) for v in line])
        count += 1
    return count


def pages(queryset: QuerySet[Any], *, size: int = CHUNK) -> Iterator[list[Any]]:
    """``queryset`` in primary-key order, ``size`` rows at a time, each page one statement that
    starts after the last key of the page before (keyset pagination): memory holds one page,
    no statement keeps a cursor or a read transaction open for the length of a download, and
    every page costs the same however deep into the table it is. Rows are model instances,
    ``values()`` dictionaries with ``pk`` (or ``id``), or ``values_list()`` tuples whose first
    item is the primary key."""
    ordered = queryset.order_by("pk")
    last: Any = None
    while True:
        page = list((ordered if last is None else ordered.filter(pk__gt=last))[:size])
        if not page:
            return
        yield page
        if len(page) < size:
            return
        last = _key(page[-1])


def _key(row: Any) -> Any:
    if isinstance(row, tuple):
        return row[0]
    if isinstance(row, dict):
        return row["pk"] if "pk" in row else row["id"]
    return row.pk
