"""An administrator answers a customer's access request and then their erasure request, in a
real browser: the customer page's download holds their data in full, the erasure asks for the
name, and the page then shows the anonymised customer — at desk and phone widths."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from huifang.audit.models import Entry
from huifang.customers.models import Customer
from tests.browser.fixtures import assert_fits, log_in
from tests.engine.world import World
from tests.privacy.world import HER, everyone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.mark.parametrize("width", [1280, 390])
def test_export_then_erase_from_the_customer_page(
    live_server: Any,
    page: Page,
    world: World,
    tmp_path: Path,
    alice: Any,
    bob: Any,
    width: int,
) -> None:
    customer = everyone(world, tmp_path, admin=alice, agent=bob, pending=True)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(page.locator("#customer-name")).to_have_text(HER.name)
    assert_fits(page, width)

    with page.expect_download() as download:
        page.click("#export-all")
    assert download.value.suggested_filename == f"customer-{customer.pk}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert {"customers.Customer", "customers.Event", "outbox.Message", "tasks.Task"} <= set(
        book.sheetnames
    )
    profile = [[c.value for c in row] for row in book["customers.Customer"].iter_rows()]
    # In full (their own data), a leading "+" neutralised as every spreadsheet cell is.
    assert profile[1][profile[0].index("phone")] == "'" + HER.phone
    assert Entry.objects.filter(action=Entry.Action.EXPORT, object_id=str(customer.pk)).exists()

    page.click("#erase-customer")
    expect(page.locator("#erase-name")).to_have_text(HER.name)
    assert_fits(page, width)
    page.fill("input[name=confirm]", "欧阳")
    page.fill("input[name=reason]", "删除请求 2026-12-01，工单 4711")
    page.click("#erase-submit")
    expect(page.locator("#erase-form .invalid-feedback")).to_contain_text("客户姓名不一致")
    assert Customer.objects.get(pk=customer.pk).erased_at is None
    page.fill("input[name=confirm]", HER.name)
    page.click("#erase-submit")

    expect(page.locator("#customer-name")).to_have_text(f"已删除客户 #{customer.pk}")
    expect(page.locator("#erased-badge")).to_be_visible()
    expect(page.locator("#erase-customer")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(HER.name)
    expect(page.locator("main")).not_to_contain_text(HER.national[-4:])
    assert_fits(page, width)
    if os.environ.get("HUIFANG_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"customer-erased-{width}.png"), full_page=False)
