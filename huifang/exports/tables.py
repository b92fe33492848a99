"""What every export shares: the two formats, the largest export allowed, writing the lines to
a file, a stream or a download, and the audit entries.

An export is an iterator of lines, the header first (each table's ``lines_of``), read from the
database a page at a time (``huifang.core.exports.pages``); the writing — CSV streamed as the
lines come, xlsx by XlsxWriter in constant memory, formula cells neutralised — is
``huifang.core.exports``. So memory stays bounded whatever the number of rows, and the
functions here can be called directly by a script or a benchmark with a file of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.translation import gettext as _

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.core.exports import csv_response, write_csv, write_xlsx, xlsx_response

KINDS = ("csv", "xlsx")
# An Excel sheet holds 1,048,576 rows; one of them is the header.
XLSX_ROWS = 1_048_575


class TooMany(Exception):
    """More rows than an export may hold; the message, for the user, says how to narrow it."""


def most_rows(kind: str) -> int:
    """The most rows an export of ``kind`` from a page may hold: the organisation's cap
    (``HUIFANG_EXPORT_MAX_ROWS``), and for xlsx no more than a sheet holds."""
    cap: int = settings.HUIFANG_EXPORT_MAX_ROWS
    return min(cap, XLSX_ROWS) if kind == "xlsx" else cap


def check(rows: int, kind: str, *, most: int | None = None) -> None:
    """Refuse, before anything is written, an export of more rows than allowed."""
    limit = most_rows(kind) if most is None else most
    if rows > limit:
        hint = _("Narrow the filters") if kind == "csv" or limit < XLSX_ROWS else _("Use CSV")
        raise TooMany(
            _(
                "This export would hold %(rows)s rows, more than the %(limit)s allowed. "
                "%(hint)s and export again."
            )
            % {"rows": f"{rows:,}", "limit": f"{limit:,}", "hint": hint}
        )


def write(lines: Iterable[list[Any]], kind: str, output: IO[Any] | str, sheet: str) -> int:
    """``lines`` (the header first) into ``output`` — a binary file or a path for xlsx, a text
    file for CSV; returns the rows written, the header not counted."""
    if kind == "xlsx":
        return write_xlsx(lines, output, sheet) - 1
    return write_csv(lines, output) - 1


def write_file(lines: Iterable[list[Any]], kind: str, path: Path, sheet: str) -> int:
    """``lines`` into the file at ``path``, readable by its owner alone from the moment it
    exists (personal data); returns the rows written."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # a file that was there keeps its mode through O_CREAT
    try:
        if kind == "xlsx":
            with os.fdopen(descriptor, "wb") as binary:
                return write(lines, kind, binary, sheet)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as text:
            return write(lines, kind, text, sheet)
    except BaseException:
        path.unlink(missing_ok=True)  # no half-written file is left behind
        raise


def respond(lines: Iterable[list[Any]], kind: str, name: str, sheet: str) -> HttpResponseBase:
    """``lines`` as a download called ``name.csv`` (streamed) or ``name.xlsx``."""
    if kind == "xlsx":
        return xlsx_response(lines, name, sheet)
    return csv_response(lines, name)


def audit(
    what: str,
    kind: str,
    *,
    rows: int,
    revealed: bool,
    filters: str = "",
    request: HttpRequest | None = None,
    actor: Any = None,
    command_line: bool = False,
    object_type: str = "",
) -> None:
    """One ``export`` entry (who, what, which filters, how many rows); an export in full is
    a reveal of every personal detail it holds, so it gets a ``reveal`` entry as well."""
    where = f"{what} ({kind}{', command line' if command_line else ''})"
    details = {"format": kind, "filters": filters, "rows": rows, "revealed": revealed}
    common: dict[str, Any] = {"request": request, "actor": actor, "object_type": object_type}
    record(Entry.Action.EXPORT, where, details=details, **common)
    if revealed:
        record(
            Entry.Action.REVEAL,
            "export",
            object_repr=where,
            details={"where": where, "rows": rows},
            **common,
        )
