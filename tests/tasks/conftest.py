"""Fixtures of the follow-up task tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation


@pytest.fixture
def english() -> Iterator[None]:
    """Read the notes in a task's history in English (the site's language is Chinese)."""
    with translation.override("en"):
        yield


@pytest.fixture
def quick_hashing(settings: Any) -> None:
    """These tests make many staff accounts and never log in with a password: hash quickly."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
