"""Fixtures of the follow-up task tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation


@pytest.fixture
def english() -> Iterator[None]:
    """Read the notes in a task's history in English (the site's language is Chinese)."""
    with translation.override("en"):
        yield
