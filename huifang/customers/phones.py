"""Phone numbers in, E.164 out: every stored phone is ``+8613800138000``, never as typed."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def normalize_phone(raw: str, *, region: str | None = None) -> str:
    """Return ``raw`` in E.164, or raise ``ValidationError`` saying why it is not a phone."""
    text = (raw or "").strip()
    if not text:
        raise ValidationError(_("Enter a phone number."), code="empty")
    region = region or settings.PHONE_DEFAULT_REGION
    if region == "CN" and (mobile := _CN_MOBILE_TYPED.fullmatch(text)) and _cn_valid(mobile[1][:7]):
        return "+86" + mobile[1]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("“%(value)s” is not a phone number."), code="invalid_phone", params={"value": text}
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("“%(value)s” is not a valid phone number."),
            code="invalid_phone",
            params={"value": text},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A Chinese mobile number as it is usually written: parsed by phonenumbers it costs ~60 µs,
# which a million-row import feels. Whether such a number is valid depends on its first digits
# only (CN's patterns for 11-digit numbers starting with 1 fix at most the first five), so the
# answer is kept per 7-digit prefix; tests/customers/test_phones_fast.py holds both ways equal.
_CN_MOBILE_TYPED = re.compile(r"(?:\+86)?(1\d{10})")


@lru_cache(maxsize=65_536)
def _cn_valid(prefix: str) -> bool:
    number = phonenumbers.parse(prefix + "0" * (11 - len(prefix)), "CN")
    return bool(phonenumbers.is_valid_number(number))


def try_normalize_phone(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except ValidationError:
        return None


def format_phone(e164: str) -> str:
    """For display: national format for the default region, international otherwise."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    region = phonenumbers.region_code_for_number(number)
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if region == settings.PHONE_DEFAULT_REGION
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)


# A mainland mobile number in E.164: shown nationally as its 11 digits wherever CN is the
# default region, so it is masked without parsing (exports mask a million of them).
_CN_MOBILE_E164 = re.compile(r"\+861[3-9]\d{9}")


def mask_phone(e164: str) -> str:
    """``+8613800138000`` → ``138****8000``: enough for an agent to recognise, not to copy."""
    if settings.PHONE_DEFAULT_REGION == "CN" and _CN_MOBILE_E164.fullmatch(e164):
        return f"{e164[3:6]}****{e164[-4:]}"
    shown = format_phone(e164).replace(" ", "").replace("-", "")
    if len(shown) < 7:
        return "*" * len(shown)
    return f"{shown[:3]}****{shown[-4:]}"
