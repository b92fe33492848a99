"""The template editor declares the score a message asks for — in a real browser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.messaging.models import MessageTemplate
from huifang.messaging.services import load_template_library
from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
# Where to keep the screenshots to look at (HUIFANG_SHOTS), else pytest's temporary folder.
SHOTS = os.environ.get("HUIFANG_SHOTS", "")


@pytest.mark.parametrize("width", [1280, 390])
def test_a_ready_template_shows_and_edits_the_score_it_asks_for(
    live_server: Any, page: Page, alice: Any, width: int, tmp_path: Path
) -> None:
    load_template_library()
    template = MessageTemplate.objects.get(key="satisfaction-24h", channel="sms")
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/templates/{template.pk}/")
    expect(page.locator("#asks-badge")).to_contain_text("CSAT")
    expect(page.locator("#id_asks")).to_have_value("csat")
    page.locator("#id_asks").select_option("nps")
    page.locator("#save-template").click()
    expect(page.locator("#asks-badge")).to_contain_text("NPS")
    assert_fits(page, width)
    page.locator("#id_asks").scroll_into_view_if_needed()
    shots = Path(SHOTS) if SHOTS else tmp_path
    page.screenshot(path=str(shots / f"template-asks-{width}.png"), full_page=True)
    template.refresh_from_db()
    assert template.current_version is not None and template.current_version.asks == "nps"
