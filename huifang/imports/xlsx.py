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
from datetime import datetime, time
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


def rows(handle: IO[bytes], *, fast: bool = True) -> Iterator[list[tuple[int, int, Any]]]:
    """The first sheet's rows, each a list of ``(row, column, value)`` (1-based, as the
    spreadsheet numbers them) for its cells that hold something. ``fast=False`` reads every
    row with expat (the tests compare the two)."""
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Unreadable(str(exc)) from None
    with archive:
        try:
            book = _book(archive)
            strings = _shared_strings(archive, book.strings, fast=fast)
            dates = _date_styles(archive, book.styles)
        except (KeyError, expat.ExpatError, zipfile.BadZipFile, OSError, ValueError) as exc:
            raise Unreadable(str(exc)) from None
        try:
            with archive.open(book.sheet) as sheet:
                yield from _SheetReader(strings, dates, book.epoch).rows(sheet, fast=fast)
        except (KeyError, IndexError, expat.ExpatError, zipfile.BadZipFile, OSError) as exc:
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


# The fast path (``_SheetReader._scan``, ``_add_strings``): rows and shared strings as Excel,
# WPS, openpyxl and XlsxWriter write them — cells of a plain ``<v>`` or inline ``<is><t>``, in
# the default namespace of a UTF-8 part, with XML's five entities at most — are cut out with
# regular expressions, several times faster than expat calling Python for every tag of a
# million rows. From the first element that is anything else (a formula, rich text, a
# character reference, other quoting or spacing) to the end of the part's piece in hand,
# expat reads them: each row is read the one way or the other, with the same result.
_SHEET_DATA = re.compile(rb"<sheetData\s*(/?)>")
_ROOT = re.compile(rb"<worksheet\b[^>]*>")
_DECLARATION = re.compile(rb'<\?xml[^>]*encoding="([^"]+)"')
_ROW = re.compile(rb"\s*<row\b([^>]*?)(/?)>")
_ROW_NUMBER = re.compile(rb'\sr="(\d+)"')
_VALUE = rb'(?:<v>[^<\r]*</v>|<is><t(?: xml:space="preserve")?>[^<\r]*</t></is>)?'
_CELLS = re.compile(rb'(?:<c r="[A-Z]{1,3}\d+"[^>/]*(?:/>|>' + _VALUE + rb"</c>))*</row>")
_CELL = re.compile(
    rb'<c r="([A-Z]{1,3})\d+"([^>/]*)(?:/>|>(?:<v>([^<\r]*)</v>'
    rb'|<is><t(?: xml:space="preserve")?>([^<\r]*)</t></is>)?</c>)'
)
_ENTITIES = {b"lt": b"<", b"gt": b">", b"amp": b"&", b"quot": b'"', b"apos": b"'"}
_ATTRIBUTES = re.compile(rb'(?:\s+[\w:]+="[^"<&]*")*\s*')
_ATTRIBUTE = re.compile(rb'([\w:]+)="([^"]*)"')
_SST = re.compile(rb"<sst\b[^>]*>")
_SI_RUN = re.compile(rb'(?:<si><t(?: xml:space="preserve")?>[^<\r]*</t></si>)*')
_SI_TEXT = re.compile(rb'<si><t(?: xml:space="preserve")?>([^<\r]*)</t></si>')


def _shared_strings(archive: zipfile.ZipFile, member: str | None, *, fast: bool = True) -> _Strings:
    """The shared strings: plain ones (``<si><t>…</t></si>``) cut out as the sheet's plain
    rows are (``_SheetReader``), the rest (rich text, phonetic runs) read by expat."""
    strings = _Strings()
    if member is None or member not in archive.namelist():
        return strings
    with archive.open(member) as handle:
        head = handle.read(_READ)
        declared = _DECLARATION.match(head)
        root = _SST.search(head)
        if (
            not fast
            or root is None
            or f'xmlns="{_MAIN}"'.encode() not in root.group()
            or (declared is not None and declared.group(1).lower() not in (b"utf-8", b"utf8"))
        ):
            parser = _strings_parser(strings)
            chunk = head
            while chunk:
                parser.Parse(chunk, False)
                chunk = handle.read(_READ)
            parser.Parse(b"", True)
            strings.close()
            return strings
        for portion in _pieces(handle, head[root.end() :], b"</sst>", b"</si>"):
            _add_strings(strings, portion, root.group())
    strings.close()
    return strings


def _pieces(handle: IO[bytes], buffer: bytes, closing: bytes, element: bytes) -> Iterator[bytes]:
    """The part read on from ``buffer`` up to ``closing``, in pieces of whole elements: each
    piece ends with an ``element`` end tag (``</row>``), the last one at ``closing``."""
    while True:
        more = handle.read(_READ)
        buffer += more
        stop = buffer.find(closing)
        if stop >= 0:
            yield buffer[:stop]
            return
        if not more:
            raise expat.ExpatError(f"the part ends before {closing.decode()}")
        cut = buffer.rfind(element)
        if cut >= 0:
            cut += len(element)
            yield buffer[:cut]
            buffer = buffer[cut:]


def _add_strings(strings: _Strings, portion: bytes, root: bytes) -> None:
    """Complete ``<si>`` elements: a run of plain ones at once, what follows through expat."""
    plain = _SI_RUN.match(portion).end()  # type: ignore[union-attr]
    texts: list[bytes] = []
    for text in _SI_TEXT.findall(portion, 0, plain):
        if b"&" in text and (text := _unescaped(text)) is None:
            plain, texts = 0, []  # a character reference: expat reads the whole portion
            break
        texts.append(text)
    for text in texts:
        strings.add(text.decode())
    if portion[plain:].strip():
        parser = _strings_parser(strings)
        parser.Parse(root, False)
        parser.Parse(portion[plain:], False)
        parser.Parse(b"</sst>", True)


def _strings_parser(strings: _Strings) -> Any:
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
    return parser


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
        self._kinds: dict[bytes, tuple[str, int | None] | None] = {}

    def rows(self, sheet: IO[bytes], *, fast: bool = True) -> Iterator[list[tuple[int, int, Any]]]:
        head = sheet.read(_READ)
        declared = _DECLARATION.match(head)
        root = _ROOT.search(head)
        if (
            fast
            and root is not None
            and f'xmlns="{_MAIN}"'.encode() in root.group()
            and (declared is None or declared.group(1).lower() in (b"utf-8", b"utf8"))
        ):
            yield from self._scan(head, sheet, root.group())
        else:
            yield from self._parse(head, sheet)

    def _parse(self, head: bytes, sheet: IO[bytes]) -> Iterator[list[tuple[int, int, Any]]]:
        """The whole sheet through expat."""
        done: list[list[tuple[int, int, Any]]] = []
        parser = self._parser(done, {"row": 0})
        chunk = head
        while chunk:
            parser.Parse(chunk, False)
            yield from done
            done.clear()
            chunk = sheet.read(_READ)
        parser.Parse(b"", True)
        yield from done

    def _scan(
        self, head: bytes, sheet: IO[bytes], root: bytes
    ) -> Iterator[list[tuple[int, int, Any]]]:
        """The rows between ``<sheetData>`` and ``</sheetData>``, complete rows at a time."""
        buffer = head
        while (start := _SHEET_DATA.search(buffer)) is None:
            more = sheet.read(_READ)
            if not more:
                raise expat.ExpatError("the sheet has no <sheetData>")
            buffer += more
        if start.group(1):  # <sheetData/>: no rows
            return
        buffer = buffer[start.end() :]
        where = {"row": 0}
        wrapper = (root[:-1] + b"><sheetData>", b"</sheetData></worksheet>")
        for portion in _pieces(sheet, buffer, b"</sheetData>", b"</row>"):
            yield from self._rows_of(portion, where, wrapper)

    def _rows_of(
        self, portion: bytes, where: dict[str, int], wrapper: tuple[bytes, bytes]
    ) -> Iterator[list[tuple[int, int, Any]]]:
        """Complete rows of the sheet: each read by the fast path until one it cannot read,
        which and the rest of ``portion`` go through expat."""
        kinds, convert, column_of, strings = self._kinds, self._value, _column, self.strings
        pos, size = 0, len(portion)
        while pos < size:
            found = _ROW.match(portion, pos)
            if found is None:
                break
            number = _ROW_NUMBER.search(found.group(1))
            row_number = int(number.group(1)) if number else where["row"] + 1
            if found.group(2):  # <row r="5"/>
                where["row"], pos = row_number, found.end()
                yield [(row_number, 0, None)]
                continue
            cells = _CELLS.match(portion, found.end())
            if cells is None:
                break
            row: list[tuple[int, int, Any]] = []
            for letters, attributes, raw, inline in _CELL.findall(
                portion, found.end(), cells.end()
            ):
                kind = kinds.get(attributes)
                if kind is None:
                    if attributes in kinds:  # attributes the fast path does not read
                        break
                    kind = kinds[attributes] = _kind(attributes)
                    if kind is None:
                        break
                value: Any
                if inline:  # <is><t>: expat keeps it for an inline string only
                    if kind[0] != "inlineStr":
                        continue
                    raw = inline
                if not raw:
                    continue
                if b"&" in raw and (raw := _unescaped(raw)) is None:
                    break
                if kind is _SHARED:
                    value = strings[int(raw)]
                elif kind is _NUMBER and raw.isdigit():
                    value = int(raw)
                else:
                    value = convert(kind[0], kind[1], raw.decode())
                if value is not None and value != "":
                    row.append((row_number, column_of(letters), value))
            else:
                where["row"], pos = row_number, cells.end()
                yield row or [(row_number, 0, None)]
                continue
            break
        if portion[pos:].strip():
            yield from self._expat_rows(portion[pos:], where, wrapper)

    def _expat_rows(
        self, rows: bytes, where: dict[str, int], wrapper: tuple[bytes, bytes]
    ) -> list[list[tuple[int, int, Any]]]:
        done: list[list[tuple[int, int, Any]]] = []
        parser = self._parser(done, where)
        parser.Parse(wrapper[0], False)
        parser.Parse(rows, False)
        parser.Parse(wrapper[1], True)
        return done

    def _parser(self, done: list[list[tuple[int, int, Any]]], where: dict[str, int]) -> Any:
        """An expat parser that appends each row it reads to ``done``; ``where["row"]`` is the
        row it is in (shared with the fast path)."""
        row: list[tuple[int, int, Any]] = []
        text: list[str] = []
        cell: dict[str, Any] = {}
        state = {"column": 0, "keep": False}
        c, v, t, f, r, is_ = (f"{_MAIN} {n}" for n in ("c", "v", "t", "f", "row", "is"))
        convert = self._value

        def start(tag: str, attributes: dict[str, str]) -> None:
            if tag == c:
                reference = attributes.get("r")
                if reference:
                    found = _REFERENCE.fullmatch(reference)
                    state["column"] = _column(found.group(1)) if found else state["column"] + 1
                else:
                    state["column"] += 1
                cell.clear()
                cell.update(attributes)
                text.clear()
            elif tag == v or (tag == t and cell.get("t") == "inlineStr"):
                state["keep"] = True
            elif tag == r:
                number = attributes.get("r")
                where["row"] = int(number) if number else where["row"] + 1
                state["column"] = 0
                row.clear()
            elif tag == f:
                text.clear()
                state["keep"] = True

        def end(tag: str) -> None:
            if tag == f:  # the formula's text, not the result cached after it
                raise Formula(where["row"], state["column"], "".join(text))
            if tag == c:
                if text:
                    style = cell.get("s")
                    value = convert(
                        cell.get("t", "n"), int(style) if style else None, "".join(text)
                    )
                    if value is not None and value != "":
                        row.append((where["row"], state["column"], value))
            elif tag in (v, t):
                state["keep"] = False
            elif tag == r:
                done.append([(where["row"], 0, None), *row] if not row else list(row))
            elif tag == is_:
                state["keep"] = False

        def data(chunk: str) -> None:
            if state["keep"]:
                text.append(chunk)

        parser = expat.ParserCreate(namespace_separator=" ")
        parser.StartElementHandler = start
        parser.EndElementHandler = end
        parser.CharacterDataHandler = data
        parser.buffer_text = True
        return parser

    def _value(self, kind: str, style: int | None, raw: str) -> Any:
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
        if style is not None and style in self.dates:
            moment = from_excel(number, self.epoch)
            if isinstance(moment, datetime):
                return moment.date() if moment.time() == datetime.min.time() else moment
            return moment.isoformat() if isinstance(moment, time) else str(moment)  # a duration
        return number


def _unescaped(raw: bytes) -> bytes | None:
    """Text with the five entities of XML replaced; ``None`` for any other reference."""
    first, *parts = raw.split(b"&")
    done = [first]
    for part in parts:
        name, semicolon, rest = part.partition(b";")
        character = _ENTITIES.get(name) if semicolon else None
        if character is None:
            return None
        done += (character, rest)
    return b"".join(done)


_SHARED: tuple[str, int | None] = ("s", None)
_NUMBER: tuple[str, int | None] = ("n", None)
# The two kinds of most cells, as one object each: the fast path tells them by identity.
_COMMON = {_SHARED: _SHARED, _NUMBER: _NUMBER}


def _kind(attributes: bytes) -> tuple[str, int | None] | None:
    """A cell's type and style from the rest of its attributes (`` s="1" t="s"``), or
    ``None`` when the fast path should not read them."""
    if _ATTRIBUTES.fullmatch(attributes) is None:
        return None
    found = dict(_ATTRIBUTE.findall(attributes))
    style = found.get(b"s")
    if style is not None and not style.isdigit():
        return None
    kind = found.get(b"t", b"n").decode(), int(style) if style is not None else None
    return _COMMON.get(kind, kind)


_COLUMNS: dict[str | bytes, int] = {}


def _column(letters: str | bytes, cache: Callable[[str | bytes], int | None] = _COLUMNS.get) -> int:
    """A column's number from its letters (text, or bytes as the fast path cuts them)."""
    found = cache(letters)
    if found is None:
        found = 0
        for letter in letters if isinstance(letters, bytes) else letters.encode():
            found = found * 26 + letter - 64
        _COLUMNS[letters] = found
    return found
