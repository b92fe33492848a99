"""The writing every export shares: cells a spreadsheet would run as formulas are neutralised
in both formats, whatever follows the dangerous first character; rows are read a keyset page at
a time; a mainland mobile number is masked without parsing exactly as it is with parsing."""

from __future__ import annotations

import csv
import io
import re
import string
from typing import Any

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.core.exports import DANGEROUS, neutral, pages
from huifang.customers.models import Customer
from huifang.customers.phones import format_phone, mask_phone
from huifang.exports import tables

# Text as people type it: any printable character (control characters other than the
# dangerous tab and carriage return cannot live in an xlsx cell).
TYPED = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufeff"),
    max_size=40,
)
FORMULA = st.builds(lambda first, rest: first + rest, st.sampled_from(DANGEROUS), TYPED)


def written(kind: str, cells: list[Any]) -> list[Any]:
    lines = [["header"] * len(cells), cells]
    if kind == "csv":
        text = io.StringIO()
        assert tables.write(lines, kind, text, "sheet") == 1
        return list(csv.reader(io.StringIO(text.getvalue().lstrip("\ufeff"))))[1]
    binary = io.BytesIO()
    assert tables.write(lines, kind, binary, "sheet") == 1
    book = openpyxl.load_workbook(io.BytesIO(binary.getvalue()))
    return [excel(c.value) for c in list(book.active.iter_rows())[1]]


def excel(value: Any) -> Any:
    """A cell as Excel reads it: OOXML's ``_xHHHH_`` escapes (a carriage return is stored as
    ``_x000D_``) decoded, which openpyxl leaves as they are."""
    if not isinstance(value, str):
        return value
    return re.sub(r"_x([0-9A-F]{4})_", lambda m: chr(int(m.group(1), 16)), value)


@pytest.mark.parametrize("kind", tables.KINDS)
@settings(max_examples=150, deadline=None)
@given(text=FORMULA)
def test_a_formula_start_is_always_written_as_text(kind: str, text: str) -> None:
    (cell,) = written(kind, [text])
    assert cell == "'" + text
    assert neutral(text) == "'" + text


@pytest.mark.parametrize("kind", tables.KINDS)
@settings(max_examples=100, deadline=None)
@given(text=TYPED.filter(lambda t: not t.startswith(DANGEROUS)))
def test_other_text_and_numbers_are_written_as_they_are(kind: str, text: str) -> None:
    cells = written(kind, [text, 42, 12.5, -3])
    expected_text = text if kind == "csv" or text else None  # an empty xlsx cell reads None
    if kind == "csv":
        assert cells == [text, "42", "12.5", "-3"]  # a negative number is a number, not text
    else:
        assert cells == [expected_text, 42, 12.5, -3]


def test_nothing_in_the_xlsx_is_a_formula() -> None:
    import zipfile

    binary = io.BytesIO()
    tables.write([["a"], ['=HYPERLINK("http://x","点我")'], ["@SUM(A1)"]], "xlsx", binary, "s")
    sheet = zipfile.ZipFile(binary).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "HYPERLINK" in sheet


@pytest.mark.django_db
def test_rows_are_read_a_keyset_page_at_a_time() -> None:
    made = [Customer.objects.create(name=f"客户{i}") for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        got = list(pages(Customer.objects.values_list("pk", "name"), size=2))
    assert [len(page) for page in got] == [2, 2, 1]
    assert [row[1] for page in got for row in page] == [c.name for c in made]
    assert len(queries) == 3 and all("LIMIT 2" in q["sql"] for q in queries.captured_queries)
    assert '"id" > ' in queries.captured_queries[1]["sql"]  # no OFFSET: starts after the key
    assert "OFFSET" not in " ".join(q["sql"] for q in queries.captured_queries)
    instances = list(pages(Customer.objects.filter(name__startswith="客户"), size=5))
    assert [len(page) for page in instances] == [5]


@settings(max_examples=300, deadline=None)
@given(prefix=st.integers(3, 9), rest=st.text(alphabet=string.digits, min_size=9, max_size=9))
def test_a_mainland_mobile_is_masked_as_parsing_would(prefix: int, rest: str) -> None:
    e164 = f"+861{prefix}{rest}"
    shown = format_phone(e164).replace(" ", "").replace("-", "")
    assert mask_phone(e164) == f"{shown[:3]}****{shown[-4:]}"
