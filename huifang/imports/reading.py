"""Reading a customer or event file as the shop's other systems export it: ``.xlsx``, ``.xls``
or ``.csv`` (UTF-8 with or without a byte-order mark, or GBK / GB18030, as Excel in Chinese
saves it), into rows of text. A bad file is refused whole, with a message that says what to do,
before anything is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any, NamedTuple

from django.utils.translation import gettext as _

# Excel's own limit for a cell; a longer one is not a value someone typed.
MAX_CELL = 32_767
# Data rows in one import (a full Excel sheet holds 1,048,576 rows, header included).
MAX_ROWS = 1_000_000
SUFFIXES = (".xlsx", ".xls", ".csv")
# Office files saved with a password are OLE containers holding this stream.
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class FileRefused(ValueError):
    """The whole file cannot be imported; the message says why, in the user's language."""


class Cell(NamedTuple):
    """A value as read: text, or a date / moment / number the spreadsheet stored as such.
    (A named tuple: a million rows make millions of them.)"""

    row: int  # 1-based, as the spreadsheet numbers it
    column: int  # 1-based
    value: str | int | float | date | datetime | None


Row = list[Cell]


def open_rows(path: Path | str, *, name: str | None = None) -> Iterator[Row]:
    """The file's rows (its first sheet), empty trailing cells dropped. ``name`` is the file's
    name as uploaded (its suffix says the format); the path's otherwise."""
    suffix = Path(name or str(path)).suffix.lower()
    if suffix not in SUFFIXES:
        raise FileRefused(
            _("Import .xlsx, .xls or .csv files; “%(name)s” is none of them.")
            % {"name": Path(name or str(path)).name}
        )
    with open(path, "rb") as handle:
        head = handle.read(8)
        handle.seek(0)
        if not head:
            raise FileRefused(_("The file is empty."))
        # What the file is, by its first bytes: a name can be wrong (an .xls saved as .xlsx).
        if head == _OLE:
            data = handle.read()
            if "EncryptedPackage".encode("utf-16-le") in data:
                raise FileRefused(protected())
            yield from _counted(_xls(data))
        elif head.startswith(b"PK\x03\x04"):
            yield from _counted(_xlsx(handle))
        elif suffix == ".csv":
            yield from _counted(_csv(handle.read()))
        else:
            raise FileRefused(
                _("“%(name)s” is not an Excel workbook: save it again from Excel, or as CSV.")
                % {"name": Path(name or str(path)).name}
            )


def protected() -> str:
    """The message for a file saved with a password (translated when it is needed)."""
    return _("The file is protected by a password. Save a copy without one and import that.")


def _counted(rows: Iterator[Row]) -> Iterator[Row]:
    for count, row in enumerate(rows, start=1):
        for cell in row:
            if isinstance(cell.value, str) and len(cell.value) > MAX_CELL:
                raise FileRefused(
                    _(
                        "Row %(row)s, column %(column)s holds %(size)s characters; a cell "
                        "holds at most %(limit)s."
                    )
                    % {
                        "row": cell.row,
                        "column": column_name(cell.column),
                        "size": f"{len(cell.value):,}",
                        "limit": f"{MAX_CELL:,}",
                    }
                )
        if count > MAX_ROWS + 1:  # the header row too
            raise FileRefused(
                _("The file has more than %(limit)s rows; split it into several imports.")
                % {"limit": f"{MAX_ROWS:,}"}
            )
        yield row


def column_name(number: int) -> str:
    """1 → A, 27 → AA: as the spreadsheet labels its columns."""
    name = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        name = chr(65 + rest) + name
    return name


def _trimmed(cells: list[Cell]) -> Row:
    while cells and (cells[-1].value is None or cells[-1].value == ""):
        cells.pop()
    return cells


def _xlsx(handle: IO[bytes]) -> Iterator[Row]:
    """A workbook's first sheet, streamed (``xlsx.rows``): rows the sheet leaves out (empty
    ones) come as empty rows, so a row's place in the list is its number."""
    from . import xlsx

    expected = 1
    try:
        for read in xlsx.rows(handle):
            number = read[0][0]
            while expected < number:
                yield []
                expected += 1
            expected = number + 1
            yield _trimmed([Cell(r, c, v) for r, c, v in read if c])
    except xlsx.Formula as formula:
        raise FileRefused(
            _(
                "Row %(row)s, column %(column)s holds a formula (%(formula)s). "
                "Copy the sheet and paste it as values, then import that."
            )
            % {
                "row": formula.row,
                "column": column_name(formula.column),
                "formula": formula.formula[:40],
            }
        ) from None
    except xlsx.Unreadable as exc:
        raise FileRefused(
            _("This is not an Excel workbook (.xlsx) that can be read: %(error)s") % {"error": exc}
        ) from None


def _xls(data: bytes) -> Iterator[Row]:
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True)
    except xlrd.biffh.XLRDError as exc:
        if "encrypt" in str(exc).lower():
            raise FileRefused(protected()) from None
        raise FileRefused(
            _("This is not an Excel 97–2003 workbook (.xls) that can be read: %(error)s")
            % {"error": exc}
        ) from None
    except Exception as exc:  # xlrd raises plain errors for files that are not .xls at all
        raise FileRefused(
            _("This is not an Excel 97–2003 workbook (.xls) that can be read: %(error)s")
            % {"error": exc}
        ) from None
    sheet = book.sheet_by_index(0)
    for index in range(sheet.nrows):
        cells = []
        for column, cell in enumerate(sheet.row(index), start=1):
            cells.append(Cell(index + 1, column, _xls_value(cell, book.datemode)))
        yield _trimmed(cells)


def _xls_value(cell: Any, datemode: int) -> Any:
    import xlrd

    if cell.ctype == xlrd.XL_CELL_DATE:
        moment = xlrd.xldate_as_datetime(cell.value, datemode)
        return moment.date() if moment.time() == time() else moment
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return None
    return cell.value


def decode(data: bytes) -> str:
    """CSV text: UTF-8 (a byte-order mark is dropped) when it is valid UTF-8, else GB18030
    (which GBK and GB2312, as Excel saves a Chinese CSV, are part of)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise FileRefused(
            _("The CSV file is neither UTF-8 nor GBK text. Save it again as “CSV UTF-8”.")
        ) from None


def _csv(data: bytes) -> Iterator[Row]:
    if b"\x00" in data[:4096]:
        raise FileRefused(_("This is not a CSV text file."))
    text = decode(data)
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        for number, values in enumerate(reader, start=1):
            yield _trimmed([Cell(number, c, v) for c, v in enumerate(values, start=1)])
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):  # far beyond MAX_CELL
            raise FileRefused(
                _("Row %(row)s holds a cell of more than %(limit)s characters.")
                % {"row": reader.line_num, "limit": f"{MAX_CELL:,}"}
            ) from None
        raise FileRefused(
            _("The CSV file cannot be read at line %(line)s: %(error)s")
            % {"line": reader.line_num, "error": exc}
        ) from None


def count_rows(path: Path | str, *, name: str | None = None) -> int:
    """About how many rows the file has (for a progress bar), without reading them all: what
    the workbook says of its size, or the lines of a CSV file."""
    with open(path, "rb") as handle:
        head = handle.read(8)
        handle.seek(0)
        try:
            if head == _OLE:
                import xlrd

                book = xlrd.open_workbook(file_contents=handle.read(), on_demand=True)
                return int(book.sheet_by_index(0).nrows)
            if head.startswith(b"PK\x03\x04"):
                from .xlsx import dimension_rows

                return dimension_rows(handle)
        except Exception:  # reading it properly later says what is wrong with it
            return 0
        return handle.read().count(b"\n") + 1
