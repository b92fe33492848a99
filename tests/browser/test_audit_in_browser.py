"""An administrator reads the audit log and checks its chain — in a real browser."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.customers.models import Customer
from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.mark.parametrize("width", [1280, 390])
def test_an_administrator_filters_the_log_and_checks_the_chain(
    live_server: Any, page: Page, alice: Any, bob: Any, width: int
) -> None:
    wang = Customer.objects.create(external_id="C-1", name="王小明", phone="+8613800138000")
    record(
        Entry.Action.REVEAL,
        "phone",
        actor=bob,
        target=wang,
        object_repr="王小明 (C-1)",
        details={"field": "phone", "where": "customer page"},
        reason="客户来电",
    )
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/settings/audit/")
    expect(page.locator("#audit-entries")).to_contain_text("王小明 (C-1)")
    expect(page.locator("#audit-entries")).to_contain_text("客户来电")
    expect(page.locator("#audit-entries")).not_to_contain_text("13800138000")
    page.select_option("select[name=action]", "reveal")
    page.click("#audit-filters button[type=submit]")
    expect(page.locator("#audit-entries tbody tr")).to_have_count(1)
    page.click("#verify-chain")
    expect(page.locator("#chain-status")).to_contain_text("哈希链完好")
    assert_fits(page, width)
    if os.environ.get("HUIFANG_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"audit-log-{width}.png"), full_page=False)
