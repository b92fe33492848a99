"""The shortcut for Chinese mobile numbers answers exactly as phonenumbers does."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.customers.phones import normalize_phone


def slow(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def fast(text: str) -> str | None:
    try:
        return normalize_phone(text, region="CN")
    except ValidationError:
        return None


# Every 11-digit number starting with 1, with and without +86: valid and invalid prefixes.
numbers = st.from_regex(r"1[0-9]{10}", fullmatch=True)


@settings(max_examples=3000)
@given(numbers, st.booleans())
def test_the_shortcut_agrees_with_phonenumbers(digits: str, international: bool) -> None:
    text = f"+86{digits}" if international else digits
    assert fast(text) == slow(text)


def test_prefixes_that_differ_in_their_fifth_and_sixth_digit() -> None:
    # 1740[0-5] is mobile, 17406 is not: the cache's prefix must be long enough to tell.
    for digits in ("17400123456", "17405123456", "17406123456", "16100000000", "16200000000"):
        assert fast(digits) == slow(digits), digits
