"""An administrator imports customers from an Excel sheet in a real browser: upload, map two
columns by hand, check, import with a progress bar, download the error report, undo — and the
pages fit a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.customers.models import Customer
from huifang.imports.models import Import
from huifang.imports.tasks import check_import, run_import
from tests.browser.fixtures import assert_fits, log_in
from tests.imports.files import xlsx

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


ROWS = [
    ["会员资料导出 2026-11-30"],
    ["编号", "客户", "手机号码", "生日", "会员等级"],
    ["M-1", "王小明", "13800138000", "1990/5/1", "金卡"],
    ["M-2", "李雷", "12345", "1988-07-09", "普通会员"],
    ["M-3", "韩梅梅", "13700137000", "", "黑卡"],
    ["M-4", "张伟", "13600136000", "1992年1月2日", ""],
]


def test_an_administrator_imports_a_sheet_and_takes_it_back(
    live_server: Any, page: Page, alice: Any, tmp_path: Path, worker_later: None
) -> None:
    sheet = xlsx(tmp_path / "会员.xlsx", ROWS)
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/customers/")
    page.click("#import-customers")
    page.set_input_files("#id_file", str(sheet))
    page.click("#upload")

    # Columns: the phone and birthday are recognised; 编号 and 客户 are chosen by hand.
    expect(page.locator("#columns")).to_be_visible()
    expect(page.locator("#id_column_C")).to_have_value("phone")
    expect(page.locator("#columns")).not_to_contain_text("13800138000")  # masked examples
    page.select_option("#id_column_A", "external_id")
    page.select_option("#id_column_B", "name")
    page.click("#check")

    batch = Import.objects.get()
    expect(page.locator("#import-progress [role=progressbar]")).to_be_visible()
    check_import.call_local(batch.pk)  # the worker checks the file; the page notices
    expect(page.locator("#import-counts [data-count=created]")).to_have_text("2", timeout=15_000)
    expect(page.locator("#import-counts [data-count=refused]")).to_have_text("2")
    expect(page.locator("#import-preview")).to_contain_text("138****8000")
    assert not Customer.objects.exists()

    page.click("#start-import")
    expect(page.locator("#import-progress [role=progressbar]")).to_be_visible()
    run_import.call_local(batch.pk)
    expect(page.locator("#import-status")).to_have_text("已导入", timeout=15_000)
    assert sorted(str(c) for c in Customer.objects.values_list("external_id", flat=True)) == [
        "M-1",
        "M-4",
    ]

    with page.expect_download() as download:
        page.click("#problems-xlsx")
    report = Path(download.value.path())
    assert report.stat().st_size > 0 and download.value.suggested_filename.endswith(".xlsx")
    expect(page.locator("#import-problems")).to_contain_text("黑卡")

    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        assert_fits(page, width)

    page.check("#confirm-undo")
    page.click("#undo")
    expect(page.locator(".alert-success")).to_contain_text("导入已撤销")
    expect(page.locator("#import-status")).to_have_text("已撤销")
    assert not Customer.objects.exists()
