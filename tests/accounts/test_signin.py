"""Sign-in throttling (django-axes): a username, or an address, is locked after the limit.

The issue: forty wrong passwords and then the right one signed in, on the site and at /admin/.
Every test here runs with throttling on, as in production; the failures are rows in the test's
own transaction, so they vanish with it and no other test sees them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.conftest import PASSWORD
from tests.core.test_settings import load_settings

LIMIT = 5  # LOGIN_FAILURE_LIMIT's default


def sign_in(
    client: Client, username: str, password: str, *, path: str = "/login/", ip: str = "10.0.0.7"
) -> Any:
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(client: Client, username: str, times: int, **where: str) -> None:
    for _ in range(times):
        sign_in(client, username, "wrong password", **where)


def test_the_right_password_still_signs_in_after_a_few_mistakes(alice: Any) -> None:
    client = Client()
    fail(client, "alice", LIMIT - 1)
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and signed_in(client)


def test_it_refuses_the_right_password_once_a_username_reached_the_limit(alice: Any) -> None:
    client = Client()
    for attempt in range(1, LIMIT + 1):
        response = sign_in(client, "alice", "wrong password")
        assert response.status_code == (429 if attempt == LIMIT else 200)
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert not signed_in(client)


def test_it_counts_a_username_across_addresses(alice: Any, bob: Any) -> None:
    client = Client()
    for n in range(LIMIT):
        sign_in(client, "alice", "wrong password", ip=f"10.0.1.{n}")
    assert sign_in(client, "alice", PASSWORD, ip="10.0.2.1").status_code == 429
    # Another person at that last address is not affected.
    assert sign_in(client, "bob", PASSWORD, ip="10.0.2.1").status_code == 302


def test_it_counts_an_address_across_usernames(alice: Any) -> None:
    client = Client()
    for n in range(LIMIT):
        sign_in(client, f"guess{n}", "wrong password", ip="10.0.3.3")
    assert sign_in(client, "alice", PASSWORD, ip="10.0.3.3").status_code == 429
    assert sign_in(Client(), "alice", PASSWORD, ip="10.0.3.4").status_code == 302


def test_the_admin_login_is_throttled_too(alice: Any) -> None:
    client = Client()
    fail(client, "alice", LIMIT, path="/admin/login/")
    response = sign_in(client, "alice", PASSWORD, path="/admin/login/")
    assert response.status_code == 429
    assert not signed_in(client)
    # And the count is shared with the site's own login page.
    assert sign_in(Client(), "alice", PASSWORD, ip="10.0.9.9").status_code == 429


def test_forty_wrong_passwords_then_the_right_one_is_refused(alice: Any) -> None:
    """The issue's own reproduction."""
    client = Client()
    fail(client, "alice", 40)
    assert sign_in(client, "alice", PASSWORD).status_code == 429
    assert not signed_in(client)


def test_the_lock_lifts_after_the_cool_off(alice: Any) -> None:
    client = Client()
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        fail(client, "alice", LIMIT)
    with time_machine.travel(now + timedelta(minutes=14), tick=False):
        assert sign_in(client, "alice", PASSWORD).status_code == 429
    # A try during the lock-out restarted the cool-off: 15 minutes after that one.
    with time_machine.travel(now + timedelta(minutes=14 + 16), tick=False):
        assert sign_in(client, "alice", PASSWORD).status_code == 302
        assert signed_in(client)


def test_the_limit_and_cool_off_are_settings(alice: Any, settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    fail(client, "alice", 2)
    assert sign_in(client, "alice", PASSWORD).status_code == 429


def test_the_lockout_page_speaks_the_users_language(alice: Any) -> None:
    client = Client()
    fail(client, "alice", LIMIT)
    page = sign_in(client, "alice", PASSWORD)
    assert page.status_code == 429
    assert page["Retry-After"] == str(15 * 60)
    assert "登录失败次数过多" in page.content.decode()
    assert "15 分钟" in page.content.decode()

    client.cookies["django_language"] = "en"
    page = sign_in(client, "alice", PASSWORD)
    assert "Too many failed sign-ins" in page.content.decode()
    assert "15 minutes" in page.content.decode()


def test_a_client_asking_for_json_gets_the_api_error_envelope(alice: Any) -> None:
    client = Client(HTTP_ACCEPT="application/json", HTTP_ACCEPT_LANGUAGE="en")
    fail(client, "alice", LIMIT)
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out"
    assert "Too many failed sign-ins" in response.json()["error"]["message"]


def test_an_administrator_can_unlock_a_username(alice: Any) -> None:
    client = Client()
    fail(client, "alice", LIMIT)
    call_command("axes_reset_username", "alice", stdout=StringIO())
    assert sign_in(client, "alice", PASSWORD).status_code == 302


def test_an_administrator_can_unlock_an_address(alice: Any) -> None:
    client = Client()
    for n in range(LIMIT):
        sign_in(client, f"guess{n}", "wrong password", ip="10.0.4.4")
    call_command("axes_reset_ip", "10.0.4.4", stdout=StringIO())
    assert sign_in(client, "alice", PASSWORD, ip="10.0.4.4").status_code == 302


def test_failures_are_logged_with_username_and_address_never_the_password(
    alice: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    with caplog.at_level(logging.INFO, logger="huifang.signin"):
        fail(client, "alice", LIMIT)
        sign_in(client, "alice", PASSWORD, ip="10.0.5.5")
    lines = [r.getMessage() for r in caplog.records if r.name == "huifang.signin"]
    assert lines[0] == "sign-in failed: username='alice' ip=10.0.0.7 path=/login/"
    assert any(line.startswith("sign-in locked out: username='alice'") for line in lines)
    assert not any("wrong password" in line or PASSWORD in line for line in caplog.messages)


def test_a_successful_sign_in_is_logged(alice: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="huifang.signin"):
        sign_in(Client(), "alice", PASSWORD)
    assert "signed in: username='alice' ip=10.0.0.7" in caplog.messages


def test_behind_a_proxy_failures_count_against_the_address_the_proxy_saw(
    alice: Any, settings: Any
) -> None:
    settings.HUIFANG_BEHIND_PROXY = True
    client = Client()
    for n in range(LIMIT):
        client.post(
            "/login/",
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"1.2.3.4, 198.51.100.{n}",  # the first part is the client's
        )
    # Each failure came from another address: alice, at yet another, is not locked out.
    response = client.post(
        "/login/",
        {"username": "alice", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.200",
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LOGIN_FAILURE_LIMIT": "0"}, "LOGIN_FAILURE_LIMIT"),
        ({"LOGIN_FAILURE_LIMIT": "five"}, "LOGIN_FAILURE_LIMIT"),
        ({"LOGIN_COOLOFF_MINUTES": "0"}, "LOGIN_COOLOFF_MINUTES"),
        ({"PASSWORD_MIN_LENGTH": "6"}, "PASSWORD_MIN_LENGTH"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = load_settings(tmp_path, **env)
    assert result.returncode != 0
    assert named in result.stderr.splitlines()[-1]
