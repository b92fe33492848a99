"""How many SMS a text costs, as the networks and Chinese providers count it.

A text entirely in the GSM 7-bit alphabet fits 160 characters in one SMS and 153 per part of a
long one (the extension characters ``^{}\\[~]|€`` and form feed take two). Anything else —
Chinese, and most emoji — goes as UCS-2: 70 characters in one SMS, 67 per part; characters
outside the Basic Multilingual Plane take two UCS-2 units. Chinese providers put the signature
(``【签名】``) in front of the text, and it counts.
"""

from __future__ import annotations

from dataclasses import dataclass

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsCount:
    characters: int  # as the encoding counts them (units)
    segments: int
    encoding: str  # "GSM-7" or "UCS-2"
    per_segment: int


def with_signature(text: str, signature: str) -> str:
    return f"【{signature}】{text}" if signature else text


def count(text: str) -> SmsCount:
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, multi, encoding = 70, 67, "UCS-2"
    if units <= single:
        return SmsCount(units, 1 if units else 0, encoding, single)
    return SmsCount(units, -(-units // multi), encoding, multi)
