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
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
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
    # Django 5.2's Chinese catalog lacks this one: ours has it.
    assert "密码长度太短" in refusal("Xq3!aZ9k") and "10" in refusal("Xq3!aZ9k")


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


# -- createsuperuser --noinput: the password from the environment passes the policy too --------


def create_superuser_noinput(monkeypatch: pytest.MonkeyPatch, password: str, **options: Any) -> str:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    out = StringIO()
    call_command(
        "createsuperuser",
        interactive=False,
        username=options.pop("username", "root"),
        email=options.pop("email", "root@example.com"),
        stdout=out,
        stderr=StringIO(),
    )
    return out.getvalue()


def test_huifang_runs_our_createsuperuser() -> None:
    assert get_commands()["createsuperuser"] == "huifang.accounts"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("12345678", "密码只包含数字"),
        ("12345678", "密码长度太短"),
        ("password123", "这个密码太常见了"),
        ("root@example.com", "太相似"),
    ],
)
def test_noinput_refuses_a_password_against_the_policy(
    monkeypatch: pytest.MonkeyPatch, password: str, why: str
) -> None:
    with pytest.raises(CommandError) as refused:
        create_superuser_noinput(monkeypatch, password)
    assert "DJANGO_SUPERUSER_PASSWORD" in str(refused.value)
    assert why in str(refused.value)
    assert password not in str(refused.value)  # the reasons, never the password itself
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
def test_noinput_names_the_reasons_in_english_when_english_is_chosen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with translation.override("en"), pytest.raises(CommandError) as refused:
        create_superuser_noinput(monkeypatch, "zhangwei2026", username="zhangwei2026")
    assert "too similar to the username" in str(refused.value)
    assert "is refused by the password policy" in str(refused.value)


@pytest.mark.django_db
def test_noinput_creates_the_superuser_with_a_password_that_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "Superuser created" in create_superuser_noinput(monkeypatch, "violet kettle rain")
    root = get_user_model().objects.get(username="root")
    assert root.is_superuser and root.check_password("violet kettle rain")


@pytest.mark.django_db
def test_noinput_without_a_password_still_makes_one_nobody_can_sign_in_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    call_command("createsuperuser", interactive=False, username="root", email="", stdout=StringIO())
    assert not get_user_model().objects.get(username="root").has_usable_password()
