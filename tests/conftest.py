"""Personas and helpers shared by the whole suite (the healthchecks way: alice, bob, carol).

alice   administrator: manages staff, tokens, settings
bob     agent in the service team
carol   supervisor of the service team
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from huifang.accounts.models import ApiToken, StaffProfile, Team
from huifang.accounts.roles import Role, ensure_role_groups
from huifang.customers.models import Customer
from tests.browser.fixtures import browser, page  # noqa: F401 - shared with every test folder

PASSWORD = "correct horse battery staple"


def make_staff(username: str, role: str, *, team: Team | None = None, **extra: Any) -> Any:
    groups = ensure_role_groups()
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", PASSWORD, **extra
    )
    user.groups.add(groups[role])
    StaffProfile.objects.create(user=user, team=team, display_name=username.title())
    return user


@pytest.fixture
def service_team(db: None) -> Team:
    return Team.objects.create(key="service", name="客服一组")


@pytest.fixture
def alice(db: None) -> Any:
    return make_staff("alice", Role.ADMIN, is_staff=True)


@pytest.fixture
def bob(service_team: Team) -> Any:
    return make_staff("bob", Role.AGENT, team=service_team)


@pytest.fixture
def carol(service_team: Team) -> Any:
    return make_staff("carol", Role.SUPERVISOR, team=service_team)


@pytest.fixture
def alice_client(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: Any) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def api_token(db: None) -> str:
    _token, secret = ApiToken.issue(name="order system")
    return secret


@pytest.fixture
def api(api_token: str) -> Client:
    """A client that speaks JSON to the API with a valid token."""
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token}")


@pytest.fixture
def post_json(api: Client) -> Callable[..., Any]:
    def post(path: str, body: Any, **headers: Any) -> Any:
        return api.post(path, body, content_type="application/json", **headers)

    return post


@pytest.fixture
def customer(db: None) -> Customer:
    return Customer.objects.create(external_id="C-1", name="王小明", phone="+8613800138000")
