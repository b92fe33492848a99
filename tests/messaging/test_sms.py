"""SMS length as providers bill it: 70 / 67 for Chinese, 160 / 153 for GSM 7-bit."""

from __future__ import annotations

import pytest

from huifang.messaging.sms import count, with_signature


@pytest.mark.parametrize(
    ("text", "units", "segments", "encoding"),
    [
        ("", 0, 0, "GSM-7"),
        ("你好", 2, 1, "UCS-2"),
        ("字" * 70, 70, 1, "UCS-2"),
        ("字" * 71, 71, 2, "UCS-2"),
        ("字" * 134, 134, 2, "UCS-2"),
        ("字" * 135, 135, 3, "UCS-2"),
        ("a" * 160, 160, 1, "GSM-7"),
        ("a" * 161, 161, 2, "GSM-7"),
        ("a" * 306, 306, 2, "GSM-7"),
        ("a" * 307, 307, 3, "GSM-7"),
        ("{}" * 40, 160, 1, "GSM-7"),  # extension characters take two
        ("hello 😀", 8, 1, "UCS-2"),  # an emoji is two UCS-2 units
    ],
)
def test_segments(text: str, units: int, segments: int, encoding: str) -> None:
    result = count(text)
    assert (result.characters, result.segments, result.encoding) == (units, segments, encoding)


def test_the_signature_counts() -> None:
    text = "字" * 67
    assert count(text).segments == 1
    assert with_signature(text, "回访") == "【回访】" + text
    assert count(with_signature(text, "回访")).segments == 2
