"""Lengths of time in words, in both languages."""

from __future__ import annotations

import pytest
from django.utils import translation

from huifang.core.durations import elapsed_text, seconds_text


@pytest.mark.parametrize(
    ("seconds", "chinese", "english"),
    [
        (0.3, "不到 1 秒", "under a second"),
        (1, "1 秒", "1 second"),
        (12.4, "12 秒", "12 seconds"),
        (89, "89 秒", "89 seconds"),
        (95, "2 分钟", "2 minutes"),
        (3600, "60 分钟", "60 minutes"),
    ],
)
def test_how_long_something_took(seconds: float, chinese: str, english: str) -> None:
    with translation.override("zh-hans"):
        assert seconds_text(seconds) == chinese
    with translation.override("en"):
        assert seconds_text(seconds) == english


def test_an_elapsed_time_in_its_largest_whole_unit() -> None:
    from datetime import timedelta

    with translation.override("en"):
        assert elapsed_text(timedelta(days=3)) == "3 days"
        assert elapsed_text(timedelta(hours=36)) == "36 hours"
        assert elapsed_text(timedelta(minutes=90)) == "90 minutes"
