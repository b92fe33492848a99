"""The organisation's defaults are kept in the process for half a minute: every test here
starts and ends without a kept answer, so a rolled-back row never outlives its test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from huifang.organisation import services


@pytest.fixture(autouse=True)
def fresh_organisation() -> Iterator[None]:
    services.forget()
    yield
    services.forget()


@pytest.fixture(autouse=True)
def strict_templates(strict_templates: None) -> None:
    """Every page of the organisation's screens is rendered strictly (the shared fixture, on
    for each test here)."""


def settings_form(**overrides: Any) -> dict[str, Any]:
    """A complete POST of the settings page with the built-in defaults and two blank caps."""
    data: dict[str, Any] = {
        "quiet_start": "21:00",
        "quiet_end": "08:00",
        "working_days": ["0", "1", "2", "3", "4"],
        "working_start": "09:00",
        "working_end": "18:00",
        "sms_signature": "",
        "caps-TOTAL_FORMS": "2",
        "caps-INITIAL_FORMS": "0",
        "caps-MIN_NUM_FORMS": "0",
        "caps-MAX_NUM_FORMS": "10",
    }
    for n in range(2):
        for name in ("channel", "max", "per_days"):
            data[f"caps-{n}-{name}"] = ""
    data.update(overrides)
    return data
