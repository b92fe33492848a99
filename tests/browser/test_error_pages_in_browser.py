"""An analyst who follows a link to a page their role does not include sees the site's page in
Chinese, fitting a phone, with the way home — not a bare English "403 Forbidden"."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.accounts.roles import Role
from tests.browser.fixtures import assert_fits, log_in
from tests.conftest import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_refused_page_in_the_layout_at_each_width(
    live_server: Any, page: Page, width: int
) -> None:
    make_staff("erin", Role.ANALYST)
    page.set_viewport_size({"width": width, "height": 800})
    log_in(page, live_server.url, "erin")
    answer = page.goto(f"{live_server.url}/rules/new/")
    assert answer is not None and answer.status == 403
    expect(page.locator("#error-page h1")).to_have_text("无法打开此页面")
    expect(page.locator("nav.navbar")).to_be_visible()
    assert_fits(page, width)
    page.click("#error-home")
    expect(page.locator("#error-page")).to_have_count(0)
    page.goto(f"{live_server.url}/no-such-page/")
    expect(page.locator("#error-page h1")).to_have_text("页面不存在")
    assert_fits(page, width)
