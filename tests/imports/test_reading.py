"""Reading the files shops bring: .xlsx, .xls and CSV in UTF-8 or GBK; every bad file refused
whole with a message that says what to do."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.utils import translation

from huifang.imports.reading import FileRefused, column_name, open_rows

from .files import csv_file, protected, xls, xlsx

ROWS = [["姓名", "手机号码", "生日"], ["王小明", "13800138000", "2026/9/8"], ["李雷", "", ""]]


def texts(path: Path, name: str | None = None) -> list[list[object]]:
    return [[cell.value for cell in row] for row in open_rows(path, name=name)]


def test_xlsx_rows_with_typed_values(tmp_path: Path) -> None:
    path = xlsx(
        tmp_path / "客户.xlsx", [["姓名", "生日", "金额"], ["王小明", date(1990, 5, 1), 1299.5]]
    )
    rows = texts(path)
    assert rows[0] == ["姓名", "生日", "金额"]
    assert rows[1][0] == "王小明" and rows[1][2] == 1299.5
    assert rows[1][1] == date(1990, 5, 1)  # a date cell's midnight is a day


def test_xls_as_excel_97_writes_it(tmp_path: Path) -> None:
    path = xls(
        tmp_path / "客户.xls", [["姓名", "生日"], ["王小明", date(1990, 5, 1)], ["李雷", 42]]
    )
    assert texts(path) == [["姓名", "生日"], ["王小明", date(1990, 5, 1)], ["李雷", 42.0]]


def test_an_xls_saved_under_an_xlsx_name_is_read_for_what_it_is(tmp_path: Path) -> None:
    wrong = tmp_path / "客户.xlsx"
    wrong.write_bytes(xls(tmp_path / "real.xls", ROWS[:2]).read_bytes())
    assert texts(wrong)[1] == ["王小明", "13800138000", "2026/9/8"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_utf8_with_or_without_bom_and_in_gbk(tmp_path: Path, encoding: str) -> None:
    path = csv_file(tmp_path / "客户.csv", ROWS, encoding)
    assert texts(path) == [
        ["姓名", "手机号码", "生日"],
        ["王小明", "13800138000", "2026/9/8"],
        ["李雷"],
    ]


def test_csv_with_tabs_or_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "tabs.csv"
    path.write_text("姓名\t手机\n王小明\t13800138000\n", encoding="utf-8")
    assert texts(path)[1] == ["王小明", "13800138000"]


def test_a_sheet_that_starts_lower_down_keeps_its_row_numbers(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "export.xlsx", [["会员导出 2026-11-30"], [], *ROWS])
    rows = list(open_rows(path))
    assert rows[2][0].row == 3 and rows[2][0].value == "姓名"


def refused(path: Path, name: str | None = None) -> str:
    with translation.override("zh-hans"), pytest.raises(FileRefused) as caught:
        list(open_rows(path, name=name))
    return str(caught.value)


def test_bad_files_are_refused_with_a_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "空" in refused(empty)

    png = tmp_path / "photo.xlsx"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    assert "photo.xlsx" in refused(png)

    assert "xlsx" in refused(tmp_path / "x.pdf", name="合同.pdf")

    locked = protected(tmp_path / "locked.xlsx", ROWS, "门店2026")
    assert "密码" in refused(locked)

    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"a,b\x00\x01\x02")
    assert "CSV" in refused(binary)


def test_a_formula_cell_is_refused(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "sum.xlsx", [["姓名", "金额"], ["王小明", "=SUM(1,2)"]])
    message = refused(path)
    assert "第 2 行 B 列" in message and "公式" in message


def test_a_10_mb_cell_is_refused(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "huge.csv", [["姓名", "备注"], ["王小明", "x" * 10_000_000]])
    assert "32,767" in refused(path)


def test_more_rows_than_an_import_takes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The limit as a full Excel sheet would meet it (1,048,576 rows), made small to be quick.
    monkeypatch.setattr("huifang.imports.reading.MAX_ROWS", 5)
    path = csv_file(tmp_path / "many.csv", [["姓名"]] + [[f"c{n}"] for n in range(6)])
    assert "5" in refused(path)
    fits = csv_file(tmp_path / "fits.csv", [["姓名"]] + [[f"c{n}"] for n in range(5)])
    assert len(texts(fits)) == 6


def test_column_names_as_the_spreadsheet_shows_them() -> None:
    assert [column_name(n) for n in (1, 2, 26, 27, 52, 703)] == ["A", "B", "Z", "AA", "AZ", "AAA"]
