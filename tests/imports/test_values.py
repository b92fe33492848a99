"""Every normalisation rule of the import, with the refusals in the user's language."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import translation
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.imports import values
from huifang.imports.values import ValueRefused


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "+8613800138000"),
        (13800138000, "+8613800138000"),
        (13800138000.0, "+8613800138000"),  # a number column in Excel
        ("138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("(010) 6552 9988", "+861065529988"),
    ],
)
def test_phones_to_e164(typed: Any, stored: str) -> None:
    assert values.phone(typed) == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("2026/9/8", date(2026, 9, 8)),
        ("2026-09-08", date(2026, 9, 8)),
        ("2026.9.8", date(2026, 9, 8)),
        ("2026年9月8日", date(2026, 9, 8)),
        ("2026 年 9 月 8 日", date(2026, 9, 8)),
        ("20260908", date(2026, 9, 8)),
        ("2026-09-08 14:30", date(2026, 9, 8)),
        (46273, date(2026, 9, 8)),  # an Excel serial date
        (46273.6, date(2026, 9, 8)),
        ("46273", date(2026, 9, 8)),
        (datetime(2026, 9, 8, 10, 0), date(2026, 9, 8)),
        (date(2026, 9, 8), date(2026, 9, 8)),
    ],
)
def test_dates_in_the_common_forms(typed: Any, stored: date) -> None:
    assert values.day(typed) == stored


def test_a_moment_keeps_its_time() -> None:
    assert values.moment("2026/9/8 14:30:05") == datetime(2026, 9, 8, 14, 30, 5)
    assert values.moment(46273.5) == datetime(2026, 9, 8, 12, 0)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("¥1,299.00", Decimal("1299.00")),
        ("￥1299", Decimal("1299.00")),
        ("1,299元", Decimal("1299.00")),
        ("RMB 1299.5", Decimal("1299.50")),
        ("1，299", Decimal("1299.00")),
        (1299.5, Decimal("1299.50")),
        (88, Decimal("88.00")),
    ],
)
def test_amounts(typed: Any, stored: Decimal) -> None:
    assert values.amount(typed) == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("VIP", "vip"),
        ("vip", "vip"),
        ("金卡", "vip"),
        ("普通会员", "regular"),
        ("意向", "potential"),
        ("休眠", "dormant"),
        ("Regular", "regular"),
    ],
)
def test_tier_synonyms(typed: str, stored: str) -> None:
    assert values.tier(typed) == stored


def test_stages_genders_tags_and_text() -> None:
    assert values.stage("已购买") == "post_purchase"
    assert values.stage("服务中") == "in_service"
    assert [values.gender(g) for g in ("男", "女士", "F", "male")] == ["m", "f", "f", "m"]
    assert values.tags("VIP客户，会员、 老客户;复购|") == ["VIP客户", "会员", "老客户", "复购"]
    assert values.email(" Wang@Example.COM ") == "wang@example.com"
    assert values.text(13800138000.0) == "13800138000"
    assert values.bounded(5)("  杭州西湖 ") == "杭州西湖"


@pytest.mark.parametrize(
    ("parse", "typed", "says"),
    [
        (values.phone, "12345", "12345"),
        (values.day, "2026/2/30", "不是日历上的日期"),
        (values.day, "明天", "2026-09-08"),
        (values.day, -3, "-3"),
        (values.amount, "一千元", "金额"),
        (values.tier, "黑卡", "VIP"),
        (values.email, "wang@", "wang@"),
        (values.bounded(5), "一二三四五六", "5"),
    ],
)
def test_bad_values_say_why_in_chinese(parse: Any, typed: Any, says: str) -> None:
    with translation.override("zh-hans"), pytest.raises(ValueRefused) as caught:
        parse(typed)
    assert says in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(values.PLAIN_EMAIL, fullmatch=True).filter(lambda e: len(e) <= 254))
def test_a_plain_address_is_one_the_validator_accepts(address: str) -> None:
    validate_email(address)  # the fast path takes nothing the validator would refuse
    assert values.email(address.upper()) == address


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ0._-+@[]:\"' é", max_size=30))
def test_any_address_is_judged_as_the_validator_does(typed: str) -> None:
    found = values.text(typed).lower()
    try:
        validate_email(found)
    except ValidationError:
        with pytest.raises(ValueRefused):
            values.email(typed)
    else:
        assert values.email(typed) == found
