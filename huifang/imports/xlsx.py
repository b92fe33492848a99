"""A workbook's first sheet read as a stream: one row at a time, whatever its size.

openpyxl's read-only mode takes minutes over a million rows, and calamine (Rust) reads fast
but holds the whole sheet, several hundred megabytes for a million rows. This reader parses
the sheet's XML with expat as it is decompressed and keeps only the shared-strings table,
packed into a few large strings (a million names and e-mail addresses take tens of megabytes,
not hundreds). Cell values come out as openpyxl would give them: text, numbers (whole numbers
as ``int``), booleans, and dates and moments for cells whose number format is a date format.

It meets a formula (``<f>``) as ``Formula`` with the cell's place: an import takes values,
never a formula's last computed result.
"""

from __future__ import annotations

import re
import zipfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from xml.parsers import expat

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_READ = 1 << 16  # bytes handed to expat at a time
_PACK = 4096  # shared strings packed into one string
# The shared strings' total size: far beyond a real workbook's (a million rows of ten
# distinct texts), yet a compressed bomb cannot fill the memory.
MAX_SHARED_CHARACTERS = 200_000_000
_REFERENCE = re.compile(r"([A-Z]+)(\d+)")


class Unreadable(ValueError):
    """The workbook cannot be read (its parts or XML are broken, or too large)."""


class Formula(ValueError):
    """A cell holds a formula."""

    def __init__(self, row: int, column: int, formula: str) -> None:
        super().__init__(f"{row}:{column}: {formula}")
        self.row, self.column, self.formula = row, column, formula


@dataclass
class _Book:
    sheet: str
    strings: str | None
    styles: str | None
    epoch: datetime


def rows(handle: IO[bytes]) -> Iterator[list[tuple[int, int, Any]]]:
    """The first sheet's rows, each a list of ``(row, column, value)`` (1-based, as the
    spreadsheet numbers them) for its cells that hold something."""
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unreadable(str(exc)) from None
    with archive:
        try:
            book = _book(archive)
            strings = _shared_strings(archive, book.strings)
            dates = _date_styles(archive, book.styles)
        except (KeyError, expat.ExpatError, zipfile.BadZipFile, OSError, ValueError) as exc:
            raise Unreadable(str(exc)) from None
        try:
            with archive.open(book.sheet) as sheet:
                yield from _SheetReader(strings, dates, book.epoch).rows(sheet)
        except (KeyError, expat.ExpatError, zipfile.BadZipFile, OSError) as exc:
            raise Unreadable(str(exc)) from None


def dimension_rows(handle: IO[bytes]) -> int:
    """How many rows the first sheet says it spans (its ``<dimension>``), else how many
    ``<row`` elements it holds; without reading any cell."""
    with zipfile.ZipFile(handle) as archive:
        member = _book(archive).sheet
        with archive.open(member) as sheet:
            head = sheet.read(4096)
        found = re.search(rb'<(?:\w+:)?dimension\s+ref="[A-Z]+\d+:[A-Z]+(\d+)"', head)
        if found is not None:
            return int(found.group(1))
        count, tail = 0, b""
        with archive.open(member) as sheet:
            while chunk := sheet.read(1 << 20):
                count += (tail + chunk).count(b"<row ") - tail.count(b"<row ")
                tail = chunk[-8:]
        return count


def _book(archive: zipfile.ZipFile) -> _Book:
    """Where the first sheet, the shared strings and the styles are, and the date system."""
    workbook = _parse_tree(archive.read("xl/workbook.xml"))
    rels = _parse_tree(archive.read("xl/_rels/workbook.xml.rels"))
    targets: dict[str, tuple[str, str]] = {}
    for attributes in rels:
        if attributes.get("_tag") == f"{_PACKAGE_RELS} Relationship":
            target = attributes.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            targets[attributes.get("Id", "")] = (attributes.get("Type", ""), path)
    sheet = next(
        (a for a in workbook if a.get("_tag") == f"{_MAIN} sheet"),
        None,
    )
    if sheet is None:
        raise KeyError("xl/workbook.xml names no sheet")
    sheet_path = targets[sheet[f"{_RELS} id"]][1]
    by_type = {kind.rsplit("/", 1)[-1]: path for kind, path in targets.values()}
    date1904 = any(
        a.get("_tag") == f"{_MAIN} workbookPr" and a.get("date1904") in ("1", "true")
        for a in workbook
    )
    return _Book(
        sheet=sheet_path,
        strings=by_type.get("sharedStrings"),
        styles=by_type.get("styles"),
        epoch=CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900,
    )


def _parse_tree(data: bytes) -> list[dict[str, str]]:
    """Every element's attributes (with its tag under ``_tag``) of a small XML part."""
    found: list[dict[str, str]] = []
    parser = expat.ParserCreate(namespace_separator=" ")

    def start(tag: str, attributes: dict[str, str]) -> None:
        found.append({**attributes, "_tag": tag})

    parser.StartElementHandler = start
    parser.Parse(data, True)
    return found


class _Strings:
    """The shared strings, packed ``_PACK`` to a string, found by index."""

    def __init__(self) -> None:
        self._packs: list[str] = []
        self._ends = array("L")  # each string's end within its pack
        self._pending: list[str] = []
        self._size = 0

    def add(self, text: str) -> None:
        self._size += len(text)
        if self._size > MAX_SHARED_CHARACTERS:
            raise ValueError("the shared strings are larger than any workbook's")
        start = self._ends[-1] if self._pending else 0
        self._ends.append(start + len(text))
        self._pending.append(text)
        if len(self._pending) == _PACK:
            self.close()

    def close(self) -> None:
        if self._pending:
            self._packs.append("".join(self._pending))
            self._pending = []

    def __getitem__(self, index: int) -> str:
        pack = self._packs[index // _PACK]
        start = self._ends[index - 1] if index % _PACK else 0
        return pack[start : self._ends[index]]

    def __len__(self) -> int:
        return len(self._ends)


def _shared_strings(archive: zipfile.ZipFile, member: str | None) -> _Strings:
    strings = _Strings()
    if member is None or member not in archive.namelist():
        return strings
    parser = expat.ParserCreate(namespace_separator=" ")
    parts: list[str] = []
    state = {"text": False, "phonetic": 0}
    tag_si, tag_t, tag_rph = f"{_MAIN} si", f"{_MAIN} t", f"{_MAIN} rPh"

    def start(tag: str, _attributes: dict[str, str]) -> None:
        if tag == tag_t:
            state["text"] = not state["phonetic"]
        elif tag == tag_si:
            parts.clear()
        elif tag == tag_rph:  # a reading aid (furigana), not part of the text
            state["phonetic"] += 1

    def end(tag: str) -> None:
        if tag == tag_t:
            state["text"] = False
        elif tag == tag_si:
            strings.add("".join(parts))
        elif tag == tag_rph:
            state["phonetic"] -= 1

    def data(text: str) -> None:
        if state["text"]:
            parts.append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.buffer_text = True
    with archive.open(member) as handle:
        while chunk := handle.read(_READ):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    strings.close()
    return strings


def _date_styles(archive: zipfile.ZipFile, member: str | None) -> frozenset[int]:
    """The cell styles (``s`` of a cell) whose number format shows a date or a time."""
    if member is None or member not in archive.namelist():
        return frozenset()
    custom: dict[int, str] = {}
    formats: list[int] = []
    inside = {"cellXfs": False}

    parser = expat.ParserCreate(namespace_separator=" ")

    def start(tag: str, attributes: dict[str, str]) -> None:
        if tag == f"{_MAIN} numFmt":
            custom[int(attributes.get("numFmtId", "0"))] = attributes.get("formatCode", "")
        elif tag == f"{_MAIN} cellXfs":
            inside["cellXfs"] = True
        elif tag == f"{_MAIN} xf" and inside["cellXfs"]:
            formats.append(int(attributes.get("numFmtId", "0")))

    def end(tag: str) -> None:
        if tag == f"{_MAIN} cellXfs":
            inside["cellXfs"] = False

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(archive.read(member), True)
    dated = set()
    for style, number in enumerate(formats):
        code = custom.get(number) or BUILTIN_FORMATS.get(number, "")
        # 27–36 and 50–58 are the built-in formats of East Asian Excel: dates such as
        # 2026年9月8日, named differently per language and absent from BUILTIN_FORMATS.
        if (code and is_date_format(code)) or 27 <= number <= 36 or 50 <= number <= 58:
            dated.add(style)
    return frozenset(dated)


class _SheetReader:
    def __init__(self, strings: _Strings, dates: frozenset[int], epoch: datetime) -> None:
        self.strings, self.dates, self.epoch = strings, dates, epoch

    def rows(self, sheet: IO[bytes]) -> Iterator[list[tuple[int, int, Any]]]:
        done: list[list[tuple[int, int, Any]]] = []
        row: list[tuple[int, int, Any]] = []
        text: list[str] = []
        cell: dict[str, Any] = {}
        where = {"row": 0, "column": 0, "keep": False, "formula": False}
        c, v, t, f, r, is_ = (f"{_MAIN} {n}" for n in ("c", "v", "t", "f", "row", "is"))
        convert = self._value

        def start(tag: str, attributes: dict[str, str]) -> None:
            if tag == c:
                reference = attributes.get("r")
                if reference:
                    found = _REFERENCE.fullmatch(reference)
                    where["column"] = _column(found.group(1)) if found else where["column"] + 1
                else:
                    where["column"] += 1
                cell.clear()
                cell.update(attributes)
                text.clear()
            elif tag == v or (tag == t and cell.get("t") == "inlineStr"):
                where["keep"] = True
            elif tag == r:
                number = attributes.get("r")
                where["row"] = int(number) if number else where["row"] + 1
                where["column"] = 0
                row.clear()
            elif tag == f:
                where["formula"] = True
                text.clear()
                where["keep"] = True

        def end(tag: str) -> None:
            if tag == c:
                if where["formula"]:
                    raise Formula(where["row"], where["column"], "".join(text))
                if text:
                    value = convert(cell, "".join(text))
                    if value is not None and value != "":
                        row.append((where["row"], where["column"], value))
            elif tag in (v, t):
                where["keep"] = False
            elif tag == r:
                done.append([(where["row"], 0, None), *row] if not row else list(row))
            elif tag == is_:
                where["keep"] = False

        def data(chunk: str) -> None:
            if where["keep"]:
                text.append(chunk)

        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = data
        parser.buffer_text = True
        while chunk := sheet.read(_READ):
            parser.Parse(chunk, False)
            yield from done
            done.clear()
        parser.Parse(b"", True)
        yield from done

    def _value(self, cell: dict[str, str], raw: str) -> Any:
        kind = cell.get("t", "n")
        if kind == "s":
            return self.strings[int(raw)]
        if kind in ("inlineStr", "str"):
            return raw
        if kind == "b":
            return raw.strip() in ("1", "true")
        if kind == "e":
            return None
        if kind == "d":
            return datetime.fromisoformat(raw.strip())
        raw = raw.strip()
        number: float | int = int(raw) if raw.lstrip("-").isdigit() else float(raw)
        style = cell.get("s")
        if style is not None and int(style) in self.dates:
            moment = from_excel(number, self.epoch)
            if isinstance(moment, datetime) and moment.time() == datetime.min.time():
                return moment.date()
            return moment
        return number


_COLUMNS: dict[str, int] = {}


def _column(letters: str, cache: Callable[[str], int | None] = _COLUMNS.get) -> int:
    found = cache(letters)
    if found is None:
        found = 0
        for letter in letters:
            found = found * 26 + ord(letter) - 64
        _COLUMNS[letters] = found
    return found
