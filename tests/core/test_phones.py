from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from huifang.customers.phones import format_phone, mask_phone, normalize_phone


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 13800138000",
        "+86-138-0013-8000",
        "0086 138 0013 8000",
        "(+86) 138 0013 8000",
        " 13800138000 ",
    ],
)
def test_it_stores_chinese_mobiles_as_e164(typed: str) -> None:
    assert normalize_phone(typed) == "+8613800138000"


def test_it_reads_landlines_and_foreign_numbers() -> None:
    assert normalize_phone("010-6552 9988") == "+861065529988"
    assert normalize_phone("+1 415 555 2671") == "+14155552671"
    assert normalize_phone("+49 30 901820") == "+4930901820"


@pytest.mark.parametrize(
    "typed", ["12345", "1380013800", "138001380001", "abc", "+86 100 0000", "+999 123456"]
)
def test_it_rejects_invalid_numbers_with_a_clear_message(typed: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_phone(typed)
    assert typed.strip() in caught.value.messages[0]
    assert caught.value.code == "invalid_phone"


def test_it_rejects_an_empty_number() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_phone("  ")
    assert caught.value.code == "empty"


def test_it_explains_in_chinese() -> None:
    with translation.override("zh-hans"), pytest.raises(ValidationError) as caught:
        normalize_phone("12345")
    assert "电话号码" in caught.value.messages[0]


@override_settings(PHONE_DEFAULT_REGION="US")
def test_the_default_region_is_configurable() -> None:
    assert normalize_phone("(415) 555-2671") == "+14155552671"


def test_it_formats_and_masks_for_display() -> None:
    assert format_phone("+8613800138000") == "138 0013 8000"
    assert mask_phone("+8613800138000") == "138****8000"
    assert format_phone("+14155552671") == "+1 415-555-2671"


@given(
    prefix=st.sampled_from(["138", "139", "150", "186", "199"]),
    rest=st.integers(min_value=0, max_value=10**8 - 1),
    style=st.sampled_from(["{p}{r}", "+86{p}{r}", "+86 {p} {a} {b}", "{p}-{a}-{b}"]),
)
def test_any_typing_of_a_mobile_gives_the_same_e164(prefix: str, rest: int, style: str) -> None:
    digits = f"{rest:08d}"
    typed = style.format(p=prefix, r=digits, a=digits[:4], b=digits[4:])
    assert normalize_phone(typed) == f"+86{prefix}{digits}"
