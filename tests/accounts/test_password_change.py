"""Changing one's own password at /settings/password/: every role can, the policy applies,
other sessions end, this one stays, and the audit log says so without the password."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from huifang.accounts.roles import Role
from huifang.audit.models import Entry
from tests.conftest import PASSWORD, make_staff

URL = "/settings/password/"
NEW = "violet kettle under winter rain"


def signed_in(username: str) -> Client:
    """A session signed in through the login form, as a person's browser is."""
    client = Client()
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def change(client: Client, old: str, new: str, again: str | None = None) -> Any:
    return client.post(
        URL,
        {"old_password": old, "new_password1": new, "new_password2": again or new},
    )


@pytest.fixture
def dora(db: None) -> Any:
    return make_staff("dora", Role.ANALYST)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPERVISOR, Role.AGENT, Role.ANALYST])
def test_every_role_finds_the_page_in_the_user_menu(db: None, role: str) -> None:
    make_staff("erin", role)
    client = signed_in("erin")
    home = client.get("/", follow=True)
    assert f'href="{URL}"' in home.content.decode()
    page = client.get(URL)
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert 'autocomplete="current-password"' in html and 'autocomplete="new-password"' in html
    assert "至少" in html  # the policy in words, in the site's language


def test_it_changes_the_password_keeps_this_session_and_ends_the_others(bob: Any) -> None:
    here, elsewhere = signed_in("bob"), signed_in("bob")
    done = change(here, PASSWORD, NEW)
    assert done.status_code == 302 and done["Location"] == URL
    bob.refresh_from_db()
    assert bob.check_password(NEW) and not bob.check_password(PASSWORD)
    page = here.get(URL)
    assert page.status_code == 200
    assert "你的密码已修改" in page.content.decode()
    assert here.get("/customers/").status_code == 200
    # The other browser's session carried the old password's hash: it is signed out.
    gone = elsewhere.get("/customers/")
    assert gone.status_code == 302 and gone["Location"].startswith("/login/")
    assert signed_in_with(NEW, "bob")


def signed_in_with(password: str, username: str) -> bool:
    return Client().post("/login/", {"username": username, "password": password}).status_code == 302


def test_a_wrong_old_password_is_refused_in_chinese_and_nothing_changes(bob: Any) -> None:
    client = signed_in("bob")
    refused = change(client, "not my password at all", NEW)
    assert refused.status_code == 200 and "no-store" in refused["Cache-Control"]
    assert "你的旧密码不正确" in refused.content.decode()
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)
    assert not Entry.objects.filter(verb="password changed").exists()
    assert client.get("/customers/").status_code == 200  # still signed in


def test_the_refusal_is_in_english_for_someone_who_chose_english(bob: Any) -> None:
    client = signed_in("bob")
    client.cookies["django_language"] = "en"
    refused = change(client, "not my password at all", NEW)
    assert "Your old password was entered incorrectly" in refused.content.decode()


@pytest.mark.parametrize(
    ("new", "why"),
    [
        ("20261206123456", "密码只包含数字"),
        ("password123", "这个密码太常见了"),
        ("short1!", "密码长度太短"),
        ("bob@example.com1", "太相似"),
    ],
)
def test_a_new_password_against_the_policy_is_refused(bob: Any, new: str, why: str) -> None:
    refused = change(signed_in("bob"), PASSWORD, new)
    assert refused.status_code == 200
    assert why in refused.content.decode()
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)


def test_the_two_new_passwords_must_match(bob: Any) -> None:
    refused = change(signed_in("bob"), PASSWORD, NEW, NEW + "!")
    assert "输入的两个密码不一致" in refused.content.decode()
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)


def test_the_change_is_in_the_audit_log_without_any_password(dora: Any) -> None:
    change(signed_in("dora"), PASSWORD, NEW)
    entry = Entry.objects.get(verb="password changed")
    assert entry.action == Entry.Action.STAFF
    assert (entry.actor_id, entry.actor, entry.object_repr) == (dora.pk, "dora", "dora")
    assert entry.object_type == "auth.user" and entry.object_id == str(dora.pk)
    written = entry.content()
    dora.refresh_from_db()
    for secret in (PASSWORD, NEW, dora.password, dora.password.split("$")[-1]):
        assert secret not in written


def test_the_audit_page_names_the_change_in_chinese(alice_client: Client, bob: Any) -> None:
    change(signed_in("bob"), PASSWORD, NEW)
    page = alice_client.get("/settings/audit/", {"action": "staff"}).content.decode()
    assert "密码已修改" in page


def test_someone_signed_out_is_sent_to_sign_in(db: None) -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={URL}"
    posted = change(Client(), PASSWORD, NEW)
    assert posted.status_code == 302 and posted["Location"].startswith("/login/")
    assert not get_user_model().objects.exists()


def test_wrong_old_passwords_count_towards_the_sign_in_lock_out(bob: Any, settings: Any) -> None:
    """A stolen session cannot guess the old password here without limit: the guesses are
    counted like failed sign-ins, and past the limit even the right one is refused."""
    client = signed_in("bob")
    for attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = change(client, f"guess number {attempt}", NEW)
        assert refused.status_code == 200 and "旧密码不正确" in refused.content.decode()
    # The last allowed guess locks the account out, as at the sign-in form.
    assert change(client, "one guess too many", NEW).status_code == 429
    locked = change(client, PASSWORD, NEW)
    assert locked.status_code == 429 and "登录失败次数过多" in locked.content.decode()
    bob.refresh_from_db()
    assert bob.check_password(PASSWORD)
    failures = Entry.objects.filter(action=Entry.Action.SIGN_IN_FAILED, actor="bob").count()
    assert failures >= settings.AXES_FAILURE_LIMIT
