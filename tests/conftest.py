"""Personas and helpers shared by the whole suite (the healthchecks way: alice, bob, carol).

alice   administrator: manages staff, tokens, settings
bob     agent in the service team
carol   supervisor of the service team
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.template import TemplateSyntaxError
from django.test import Client
from django.utils import translation

from huifang.accounts.models import ApiToken, StaffProfile, Team
from huifang.accounts.roles import Role, ensure_role_groups
from huifang.customers.models import Customer
from huifang.organisation import services as organisation_services
from tests.browser.fixtures import browser, page, worker_later  # noqa: F401 - shared with every test folder
from tests.engine.world import World, local

# The database and fixtures of the tests that run real worker processes.
pytest_plugins = ["tests.processes"]

PASSWORD = "correct horse battery staple"


def make_staff(username: str, role: str, *, team: Team | None = None, **extra: Any) -> Any:
    groups = ensure_role_groups()
    user = get_user_model().objects.create_user(
        username, f"{username}@example.com", PASSWORD, **extra
    )
    user.groups.add(groups[role])
    StaffProfile.objects.create(user=user, team=team, display_name=username.title())
    return user


@contextmanager
def rows_for_many_tests(django_db_blocker: Any) -> Iterator[None]:
    """Write rows once for the tests of a class or module that only read them.

    The rows are written in a transaction that stays open while those tests run: each test's
    own transaction nests in it as a savepoint (whatever a test writes is undone after it), and
    the whole is rolled back after the last of them. For a class- or module-scoped fixture
    that requests ``django_db_setup`` and ``django_db_blocker``; not for transactional tests
    (live servers), whose flush would empty it.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Each test starts with an empty cache: counts kept there (the answer page's rate limit,
    keyed by a response id that the next test's rolled-back database hands out again) must not
    leak from one test into the next. The organisation's defaults, kept in the process for half
    a minute, are read again for the same reason: the row they came from was rolled back."""
    cache.clear()
    organisation_services.forget()
    yield


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
def carol_client(carol: Any) -> Client:
    client = Client()
    client.force_login(carol)
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


@pytest.fixture(autouse=True)
def site_language() -> Iterator[None]:
    """Each test starts in the site's language (Chinese): a page requested in English by an
    earlier test leaves English active in the thread (LocaleMiddleware does not undo it), and
    a test that reads a message outside a request would read it in English."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def english() -> Iterator[None]:
    """Read messages and notes in English (the site's language is Chinese)."""
    with translation.override("en"):
        yield


@pytest.fixture
def world() -> World:
    """A test world on a virtual clock: Monday 2 November 2026, 10:00 in Shanghai, a plain
    working week with no holiday near. Modules that need another moment override it."""
    return World(local("2026-11-02 10:00"))


class _Strict(str):
    """A missing template variable fails the test instead of rendering as nothing."""

    def __mod__(self, name: object) -> str:
        raise TemplateSyntaxError(f"missing template variable: {name}")


@pytest.fixture
def strict_templates(settings: Any) -> None:
    """Pages render with ``string_if_invalid`` raising: a typo in a template variable fails the
    test. Used by the modules that check whole pages (``pytestmark`` or an autouse override)."""
    engines = [dict(engine, OPTIONS=dict(engine["OPTIONS"])) for engine in settings.TEMPLATES]
    engines[0]["OPTIONS"]["string_if_invalid"] = _Strict("%s")
    settings.TEMPLATES = engines
