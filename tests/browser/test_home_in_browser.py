"""After signing in, an administrator of a new installation sees today's numbers and the four
first-day steps, and each step's button leads to where it is done; an agent lands on their
follow-ups."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_an_administrator_starts_the_first_day_from_home(
    live_server: Any, page: Page, alice: Any, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "alice")
    expect(page.locator("#first-day")).to_contain_text("连接一个发送渠道")
    expect(page.locator("#today-numbers [data-number]")).to_have_count(4)
    expect(page.locator("#first-day [data-done='false']")).to_have_count(4)
    assert_fits(page, width)
    page.click("#first-day [data-step='channel'] a")
    expect(page).to_have_url(f"{live_server.url}/channels/add/")


def test_an_agent_lands_on_their_follow_ups(live_server: Any, page: Page, bob: Any) -> None:
    log_in(page, live_server.url, "bob")
    expect(page).to_have_url(f"{live_server.url}/tasks/")
