"""Clients of the API with tokens of each scope, and the checks every answer shares."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from huifang.accounts.models import ApiToken, TokenScope

Scoped = Callable[[str], Client]


@pytest.fixture
def scoped(db: None) -> Scoped:
    """A client whose token has ``scope`` (read, write or reveal)."""

    def client(scope: str) -> Client:
        _token, secret = ApiToken.issue(name=f"{scope} system", scope=TokenScope(scope))
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    return client


@pytest.fixture
def reader(scoped: Scoped) -> Client:
    return scoped("read")


@pytest.fixture
def writer(scoped: Scoped) -> Client:
    return scoped("write")
