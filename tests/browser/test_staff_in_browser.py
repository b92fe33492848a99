"""Staff management in a real browser: an administrator adds a person on a phone, the person
signs in with the password made for them and chooses their own first."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from huifang.accounts.models import Team
from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_a_person_who_then_chooses_a_password(
    live_server: Any, page: Page, browser: Browser, alice: Any, service_team: Team
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/settings/staff/")
    expect(page.locator("#staff-table")).to_contain_text("alice")
    page.click("#add-staff")
    page.fill("#id_username", "lisi")
    page.fill("#id_display_name", "李四")
    page.select_option("#id_role", "agent")
    page.select_option("#id_team", str(service_team.pk))
    page.fill("#id_languages", "普通话, 粤语")
    assert_fits(page, 390)
    page.click("#save-staff")
    password = page.locator("#the-password").inner_text()
    assert len(password) >= 12
    assert_fits(page, 390)

    newcomer = browser.new_context(locale="zh-CN").new_page()
    newcomer.goto(f"{live_server.url}/login/")
    newcomer.fill("#id_username", "lisi")
    newcomer.fill("#id_password", password)
    newcomer.click("button[type=submit]")
    expect(newcomer).to_have_url(f"{live_server.url}/settings/password/")
    expect(newcomer.locator(".alert-info")).to_contain_text("请先设置自己的密码")
    newcomer.fill("#id_old_password", password)
    newcomer.fill("#id_new_password1", "my own good password 2026")
    newcomer.fill("#id_new_password2", "my own good password 2026")
    newcomer.locator("form button[type=submit]").last.click()
    newcomer.goto(f"{live_server.url}/tasks/")
    expect(newcomer).to_have_url(f"{live_server.url}/tasks/")
    newcomer.context.close()
