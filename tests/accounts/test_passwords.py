"""The password policy: every place a password is set refuses short, common, all-digit and
look-alike passwords, with the reason in the user's language."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from huifang.accounts.passwords import generate_password
from huifang.server.management.commands.run import Command as RunCommand


def refusal(password: str, user: Any = None, *, language: str = "zh-hans") -> str:
    with translation.override(language):
        with pytest.raises(ValidationError) as refused:
            validate_password(password, user)
        return " ".join(refused.value.messages)


def test_an_all_digit_password_is_refused() -> None:
    assert "密码只包含数字" in refusal("83920174659183")
    assert "entirely numeric" in refusal("83920174659183", language="en")


def test_a_short_password_is_refused() -> None:
    assert "at least 10 characters" in refusal("Xq3!aZ9k", language="en")
    assert "10" in refusal("Xq3!aZ9k")


def test_a_common_password_is_refused() -> None:
    assert "这个密码太常见了" in refusal("password123")


def test_a_password_like_the_username_is_refused() -> None:
    user = get_user_model()(username="zhangwei2026", email="zw@example.com")
    assert "too similar" in refusal("zhangwei2026!", user, language="en")


def test_a_good_password_passes() -> None:
    validate_password("correct horse battery staple")


@pytest.fixture
def root_client(db: None) -> Client:
    root = get_user_model().objects.create_superuser("root", "root@example.com", "x" * 20)
    client = Client()
    client.force_login(root)
    return client


def test_the_admin_refuses_an_all_digit_password_for_a_new_user(root_client: Client) -> None:
    response = root_client.post(
        "/admin/auth/user/add/",
        {
            "username": "dave",
            "usable_password": "true",
            "password1": "20261206123456",
            "password2": "20261206123456",
            # The staff profile's inline, left empty.
            "staff_profile-TOTAL_FORMS": "0",
            "staff_profile-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "密码只包含数字" in response.content.decode()
    assert not get_user_model().objects.filter(username="dave").exists()


def test_the_admin_refuses_an_all_digit_password_change(root_client: Client) -> None:
    dave = get_user_model().objects.create_user("dave", password="correct horse battery")
    response = root_client.post(
        f"/admin/auth/user/{dave.pk}/password/",
        {"usable_password": "true", "password1": "1234567890", "password2": "1234567890"},
    )
    assert response.status_code == 200
    dave.refresh_from_db()
    assert not dave.check_password("1234567890")


def test_generated_passwords_pass_the_policy(settings: Any) -> None:
    settings.AUTH_PASSWORD_VALIDATORS = [
        *settings.AUTH_PASSWORD_VALIDATORS,
        {
            "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
            "OPTIONS": {"min_length": 16},
        },
    ]
    user = get_user_model()(username="admin", email="admin@localhost")
    for _ in range(50):
        validate_password(generate_password(user), user)


@pytest.mark.django_db
def test_the_first_administrator_gets_a_password_that_passes(tmp_path: Path, settings: Any) -> None:
    settings.VAR_DIR = tmp_path
    RunCommand(stdout=StringIO()).ensure_admin()
    password = (tmp_path / "admin-password.txt").read_text().split("password: ")[1].strip()
    admin = get_user_model().objects.get(username="admin")
    validate_password(password, admin)
    assert admin.check_password(password)
