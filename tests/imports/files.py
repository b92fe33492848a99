"""Real files as the shop's systems and Excel write them."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import xlwt
from msoffcrypto.format.ooxml import OOXMLFile


def xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def xls(path: Path, rows: list[list[Any]]) -> Path:
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("客户")
    dated = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if hasattr(value, "year"):
                sheet.write(r, c, value, dated)
            elif value is not None:
                sheet.write(r, c, value)
    book.save(str(path))
    return path


def csv_file(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    text = "\r\n".join(",".join(row) for row in rows) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def protected(path: Path, rows: list[list[Any]], password: str) -> Path:
    plain = xlsx(path.with_name("plain-" + path.name), rows)
    encrypted = io.BytesIO()
    with plain.open("rb") as source:
        OOXMLFile(source).encrypt(password, encrypted)
    path.write_bytes(encrypted.getvalue())
    return path
