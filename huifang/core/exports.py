"""Tables as CSV or Excel (xlsx) downloads, safe to open in a spreadsheet.

Both formats are written as the lines come (an iterator), so memory stays bounded whatever the
number of rows: the CSV is streamed to the browser, the xlsx is written by XlsxWriter in its
``constant_memory`` mode to a temporary file that spills to disk past a few megabytes. Every
text cell is neutralised against formula injection (a cell starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading ``'``), in the xlsx too, where a reader may
copy a cell into a formula. What the lines hold — masked or not — is the caller's business.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import xlsxwriter
from django.http import FileResponse, StreamingHttpResponse

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
SPILL = 8 * 1024 * 1024  # bytes of xlsx kept in memory before the temporary file goes to disk
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def neutral(value: Any) -> Any:
    """A cell as written: numbers as they are, text with a leading ``'`` when a spreadsheet
    would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = str(value)
        return "'" + text if text.startswith(DANGEROUS) else text
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
    for row, line in enumerate(lines):
        for column, value in enumerate(line):
            value = neutral(value)
            if isinstance(value, str):
                sheet.write_string(row, column, value)
            else:
                sheet.write_number(row, column, value)
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
