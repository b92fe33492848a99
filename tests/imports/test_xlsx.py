"""The streaming workbook reader: its fast path reads every sheet as expat does.

The fast path cuts plain rows out with regular expressions and hands any row it does not read
to expat; whatever a sheet holds, the rows must come out the same either way."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import openpyxl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.imports import xlsx

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRINGS = ["王芳", "a & b", "<tag>", "  spaced  ", "line\nbreak", "13800138000"]
# Each string as a writer may store it: plain, spaced, as rich text, with a phonetic run.
STORED = [
    "<si><t>{}</t></si>",
    '<si><t xml:space="preserve">{}</t></si>',
    "<si><t xml:space='preserve'>{}</t></si>",
    "<si><r><rPr><b/></rPr><t>{}</t></r><r><t>!</t></r></si>",
    '<si><t>{}</t><rPh sb="0" eb="1"><t>ふりがな</t></rPh></si>',
]


def _read(data: bytes, *, fast: bool) -> Any:
    try:
        return list(xlsx.rows(io.BytesIO(data), fast=fast))
    except xlsx.Formula as formula:
        return ("formula", formula.row, formula.column, formula.formula)
    except xlsx.Unreadable:
        return "unreadable"


def _same_both_ways(data: bytes) -> Any:
    fast, slow = _read(data, fast=True), _read(data, fast=False)
    assert fast == slow
    return fast


def _book(sheet: str, *, date1904: bool = False, stored: list[int] | None = None) -> bytes:
    """A workbook of one sheet whose XML is ``sheet``; style 1 shows a date."""
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    package = "http://schemas.openxmlformats.org/package/2006/relationships"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{rel}">'
            + ('<workbookPr date1904="1"/>' if date1904 else "")
            + '<sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        book.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{package}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{rel}/styles" Target="styles.xml"/>'
            "</Relationships>",
        )
        book.writestr(
            "xl/styles.xml",
            f'<styleSheet xmlns="{MAIN}"><cellXfs count="2"><xf numFmtId="0"/>'
            '<xf numFmtId="14" applyNumberFormat="1"/></cellXfs></styleSheet>',
        )
        book.writestr(
            "xl/sharedStrings.xml",
            f'<sst xmlns="{MAIN}">'
            + "".join(
                STORED[kind].format(escape(text).replace("\n", "&#10;" if kind == 2 else "\n"))
                for text, kind in zip(STRINGS, stored or [0] * len(STRINGS), strict=True)
            )
            + "</sst>",
        )
        book.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def _sheet(rows: str, *, head: str = "", root: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}" '
        'xmlns:x14ac="http://schemas.microsoft.com/office/spreadsheetml/2009/9/ac"'
        f"{root}>{head}<sheetData>{rows}</sheetData></worksheet>"
    )


# Cells as the writers of the world write them: the fast path reads the first kinds, expat
# the rest (inline and rich text, entities, other quoting, a reference missing).
_CELLS = st.sampled_from(
    [
        '<c r="{ref}" t="s"><v>{i}</v></c>',
        '<c r="{ref}" s="0" t="s"><v>{i}</v></c>',
        '<c r="{ref}" t="s" s="0"><v>{i}</v></c>',
        '<c r="{ref}"><v>42</v></c>',
        '<c r="{ref}"><v>-3.25</v></c>',
        '<c r="{ref}" s="1"><v>46273</v></c>',
        '<c r="{ref}" s="1"><v>46273.5</v></c>',
        '<c r="{ref}" t="b"><v>1</v></c>',
        '<c r="{ref}" t="e"><v>#N/A</v></c>',
        '<c r="{ref}" t="str"><v>plain text</v></c>',
        '<c r="{ref}" t="str"><v>a &amp; b</v></c>',
        '<c r="{ref}" t="str"><v>one\r\ntwo</v></c>',
        '<c r="{ref}" s="0"/>',
        '<c r="{ref}"><v></v></c>',
        '<c r="{ref}" t="inlineStr"><is><t>内联</t></is></c>',
        '<c r="{ref}" t="inlineStr"><is><r><t>ri</t></r><r><t>ch</t></r></is></c>',
        "<c r='{ref}' t='s'><v>{i}</v></c>",
        '<c t="s"><v>{i}</v></c>',
        '<c r="{ref}" t="d"><v>2026-09-08T10:30:00</v></c>',
        '<c r="{ref}" t="str"><v>a&#10;b</v></c>',
        '<c r="{ref}" t="str"><v>&lt;b&gt; &quot;q&quot; &apos;</v></c>',
        '<c r="{ref}" t="inlineStr"><is><t xml:space="preserve"> x &amp; y </t></is></c>',
        '<c r="{ref}" t="n"><is><t>not inline</t></is></c>',
        '<c r="{ref}" t="inlineStr"><v>inline in v</v></c>',
    ]
)


@st.composite
def _sheets(draw: Any) -> str:
    rows = []
    number = 0
    for _row in range(draw(st.integers(0, 8))):
        number += draw(st.integers(1, 3))
        named = draw(st.booleans())
        opening = f'<row r="{number}" spans="1:4" x14ac:dyDescent="0.25"' if named else "<row"
        if draw(st.integers(0, 5)) == 0:
            rows.append(opening + "/>")
            continue
        cells = []
        for column in range(draw(st.integers(0, 4))):
            template = draw(_CELLS)
            cell = template.format(
                ref=f"{'ABCD'[column]}{number}", i=draw(st.integers(0, len(STRINGS) - 1))
            )
            cells.append(cell)
        spacing = "\n  " if draw(st.integers(0, 6)) == 0 else ""
        rows.append(opening + ">" + spacing.join(cells) + "</row>")
    return "".join(rows)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    rows=_sheets(),
    date1904=st.booleans(),
    stored=st.lists(st.integers(0, len(STORED) - 1), min_size=len(STRINGS), max_size=len(STRINGS)),
)
def test_the_fast_path_reads_any_sheet_as_expat_does(
    rows: str, date1904: bool, stored: list[int]
) -> None:
    _same_both_ways(_book(_sheet(rows), date1904=date1904, stored=stored))


def test_a_row_expat_reads_between_fast_ones_keeps_its_place() -> None:
    rows = (
        '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
        '<row r="3"><c r="A3" t="inlineStr"><is><t>内联</t></is></c></row>'
        '<row><c r="A4"><v>7</v></c></row>'
        '<row r="6"><c r="B6" s="1"><v>46273</v></c></row>'
    )
    assert _same_both_ways(_book(_sheet(rows))) == [
        [(2, 1, "王芳")],
        [(3, 1, "内联")],
        [(4, 1, 7)],
        [(6, 2, date(2026, 9, 8))],
    ]


def test_a_formula_is_found_by_either_path() -> None:
    rows = (
        '<row r="1"><c r="A1"><v>1</v></c></row>'
        '<row r="2"><c r="A2"><v>2</v></c><c r="B2"><f>SUM(A1:A2)</f><v>3</v></c></row>'
    )
    assert _same_both_ways(_book(_sheet(rows))) == ("formula", 2, 2, "SUM(A1:A2)")


def test_a_sheet_with_a_prefixed_namespace_is_read_by_expat() -> None:
    sheet = (
        f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData><x:row r="1">'
        '<x:c r="A1" t="s"><x:v>1</x:v></x:c></x:row></x:sheetData></x:worksheet>'
    )
    assert _same_both_ways(_book(sheet)) == [[(1, 1, "a & b")]]


def test_an_empty_sheet_and_a_cut_one() -> None:
    empty = _sheet("").replace("<sheetData></sheetData>", "<sheetData/>")
    assert _same_both_ways(_book(empty)) == []
    cut = _sheet('<row r="1"><c r="A1"><v>1</v></c></row>').split("</sheetData>")[0]
    assert _read(_book(cut), fast=True) == "unreadable"
    assert _read(_book(_sheet('<row r="1"><c r="A1" t="s"><v>99</v></c></row>')), fast=True) == (
        "unreadable"
    )


def _large_rows(count: int) -> list[list[Any]]:
    return [
        [f"客户{i}", 13800000000 + i, date(1990, 1 + i % 12, 1 + i % 28), i * 1.5, i % 2 == 0]
        for i in range(count)
    ]


def test_workbooks_of_openpyxl_and_xlsxwriter_are_read_by_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _large_rows(3000)
    book = openpyxl.Workbook()
    for row in made:
        book.active.append(row)
    book.save(tmp_path / "openpyxl.xlsx")
    with xlsxwriter.Workbook(str(tmp_path / "xlsxwriter.xlsx")) as writer:
        sheet = writer.add_worksheet()
        day = writer.add_format({"num_format": "yyyy-mm-dd"})
        for r, row in enumerate(made):
            for c, value in enumerate(row):
                if isinstance(value, date):
                    sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
                else:
                    sheet.write(r, c, value)
    expat_used: list[int] = []
    real = xlsx._SheetReader._expat_rows
    monkeypatch.setattr(
        xlsx._SheetReader,
        "_expat_rows",
        lambda self, *a: expat_used.append(1) or real(self, *a),  # type: ignore[func-returns-value]
    )
    for name in ("openpyxl.xlsx", "xlsxwriter.xlsx"):
        data = (tmp_path / name).read_bytes()
        read = list(xlsx.rows(io.BytesIO(data)))
        assert not expat_used, name
        assert len(read) == len(made)
        assert read[7] == [
            (8, 1, "客户7"),
            (8, 2, 13800000007),
            (8, 3, date(1990, 8, 8)),
            (8, 4, 10.5),
            (8, 5, False),
        ]
        assert read == _read(data, fast=False)


def test_attributes_quoted_otherwise_are_left_to_expat() -> None:
    assert xlsx._kind(b' s="1" t="s"') == ("s", 1)
    assert xlsx._kind(b"") == ("n", None)
    assert xlsx._kind(b" t='s'") is None
    assert xlsx._kind(b' s="x"') is None
