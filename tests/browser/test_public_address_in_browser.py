"""An administrator opening the channels page of an installation without ``BASE_URL`` reads
that the links in messages would start with an address only this machine can open."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.organisation.services import forget
from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_the_channels_page_warns_about_the_links_address(
    live_server: Any, page: Page, alice: Any, settings: Any, width: int
) -> None:
    settings.HUIFANG_BASE_URL_SET = False
    settings.HUIFANG_BASE_URL = "http://localhost:8000"
    forget()
    page.set_viewport_size({"width": width, "height": 800})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/channels/")
    warning = page.locator("#public-address")
    expect(warning).to_contain_text("http://localhost:8000")
    expect(warning).to_contain_text("只有本机能打开这个地址")
    assert_fits(page, width)
