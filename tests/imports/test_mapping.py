"""Column suggestions from the headers shops use, and the header row found below a title."""

from __future__ import annotations

from pathlib import Path

from huifang.imports.mapping import header_row, suggest, target_for
from huifang.imports.reading import open_rows

from .files import xlsx


def test_chinese_and_english_headers_are_recognised() -> None:
    headers = [
        "会员编号",
        "姓名",
        "手机号码（必填）",
        "邮箱",
        "生日",
        "会员等级",
        "门店",
        "备注",
        "积分",
    ]
    assert suggest(headers) == {
        0: "external_id",
        1: "name",
        2: "phone",
        3: "email",
        4: "birthday",
        5: "tier",
        6: "attributes.store",
        7: "note",
    }
    english = ["Customer ID", "Full Name", "Mobile", "E-mail", "Date of birth", "Tier"]
    assert list(suggest(english).values()) == [
        "external_id",
        "name",
        "phone",
        "email",
        "birthday",
        "tier",
    ]


def test_a_field_is_suggested_once() -> None:
    assert suggest(["手机", "电话", "姓名"]) == {0: "phone", 2: "name"}


def test_the_header_row_below_a_title(tmp_path: Path) -> None:
    path = xlsx(
        tmp_path / "导出.xlsx",
        [
            ["会员资料导出"],
            ["导出时间：2026-11-30"],
            [],
            ["姓名", "手机", "等级"],
            ["王小明", "13800138000", "VIP"],
        ],
    )
    rows = list(open_rows(path))
    assert header_row(rows) == 3


def test_without_known_headers_the_first_row_with_something() -> None:
    assert header_row([]) == 0


def test_any_custom_attribute_with_a_safe_key() -> None:
    assert target_for("attributes.积分") is not None
    assert target_for("attributes.x__regex") is None
    assert target_for("password") is None
