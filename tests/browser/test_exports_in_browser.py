"""A supervisor filters the customer list and downloads what it shows, in a real browser: the
file holds the filtered customers, masked, and the export is audited."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from playwright.sync_api import Page, expect

from huifang.audit.models import Entry
from huifang.customers.models import Customer
from tests.browser.fixtures import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_filtered_list_as_a_file(live_server: Any, page: Page, carol: Any) -> None:
    Customer.objects.create(name="王小明", phone="+8613800138000", city="杭州市")
    Customer.objects.create(name="李雷", phone="+8613900139000", city="上海市")
    log_in(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/customers/")
    page.fill("input[name=city]", "杭州")
    page.press("input[name=city]", "Enter")
    expect(page.locator("#result-count")).to_contain_text("1")

    with page.expect_download() as download:
        page.click("#export-xlsx")
    assert download.value.suggested_filename == "customers.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    rows = [[c.value for c in row] for row in book.active.iter_rows()]
    assert len(rows) == 2 and rows[1][1] == "王小明"
    assert "+8613800138000" not in str(rows[1])  # masked
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert "city=" in entry.details["filters"] and entry.details["rows"] == 1
