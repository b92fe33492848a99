"""A member of staff changes their own password from the user menu — in a real browser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.mark.parametrize("width", [1280, 390])
def test_an_agent_changes_their_password_from_the_user_menu(
    live_server: Any, page: Page, bob: Any, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "bob")
    if width < 992:  # the menus are behind the navbar's toggle on a phone
        page.click(".navbar-toggler")
        # Opened once the collapse has run: a click while it slides in can miss the menu.
        expect(page.locator("#mainnav.show")).to_be_visible()
    page.click("#user-menu")
    expect(page.locator("#change-password")).to_be_visible()
    page.click("#change-password")
    expect(page.locator("h1")).to_have_text("修改密码")
    page.fill("#id_old_password", "correct horse battery staple")
    page.fill("#id_new_password1", "20261206123456")
    page.fill("#id_new_password2", "20261206123456")
    page.click("#password-form button[type=submit]")
    expect(page.locator(".invalid-feedback")).to_contain_text("密码只包含数字")
    expect(page.locator("#password-rules")).to_contain_text("至少 10 个字符")
    assert_fits(page, width)
    if os.environ.get("HUIFANG_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"password-change-{width}.png"), full_page=False)
    page.fill("#id_old_password", "correct horse battery staple")
    page.fill("#id_new_password1", "violet kettle under winter rain")
    page.fill("#id_new_password2", "violet kettle under winter rain")
    page.click("#password-form button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text("你的密码已修改")
    bob.refresh_from_db()
    assert bob.check_password("violet kettle under winter rain")
