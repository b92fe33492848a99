"""An administrator brings last autumn's orders in from the order system's Excel export in a real
browser: upload it as events, choose the event type, check, import with a progress bar, and see
the customer's order count change — with no follow-up started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.customers.models import Customer, Event
from huifang.engine.models import Enrollment
from huifang.imports.models import Import
from huifang.imports.tasks import check_import, run_import
from tests.browser.fixtures import assert_fits, log_in
from tests.imports.files import xlsx

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


ROWS = [
    ["订单导出 2026-11-30"],
    ["订单编号", "买家手机", "支付时间", "实付金额", "商品名称"],
    ["A1001", "13800138000", "2026/9/8 14:30", "¥1,299.00", "空气净化器"],
    ["A1002", "13800138000", "2026年10月2日", "300", "滤网"],
    ["A1003", "13700137000", "2026/10/3", "88", "滤网"],  # nobody has this phone
]


def test_an_administrator_imports_orders_and_the_order_count_changes(
    live_server: Any, page: Page, alice: Any, tmp_path: Path, worker_later: None
) -> None:
    wang = Customer.objects.create(name="王小明", phone="+8613800138000")
    sheet = xlsx(tmp_path / "订单.xlsx", ROWS)
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/customers/{wang.pk}/")
    orders = page.locator(".figure-card", has_text="订单数").locator(".value")
    expect(orders).to_have_text("0")

    page.goto(f"{live_server.url}/customers/import/")
    page.select_option("#id_kind", "events")
    page.set_input_files("#id_file", str(sheet))
    page.click("#upload")

    expect(page.locator("#event-options")).to_be_visible()
    expect(page.locator("#id_column_A")).to_have_value("order_id")
    expect(page.locator("#id_column_C")).to_have_value("occurred_at")
    expect(page.locator("#columns")).not_to_contain_text("13800138000")
    expect(page.locator("#id_fire_rules")).not_to_be_checked()
    page.select_option("#id_event_type", "purchase")
    page.click("#check")

    batch = Import.objects.get()
    expect(page.locator("#import-progress [role=progressbar]")).to_be_visible()
    check_import.call_local(batch.pk)
    expect(page.locator("#import-counts [data-count=added]")).to_have_text("2", timeout=15_000)
    expect(page.locator("#import-counts [data-count=refused]")).to_have_text("1")
    expect(page.locator("#import-problems")).to_contain_text("137****7000")
    expect(page.locator("#import-preview")).to_contain_text("空气净化器")
    assert not Event.objects.exists()

    page.click("#start-import")
    expect(page.locator("#import-progress [role=progressbar]")).to_be_visible()
    run_import.call_local(batch.pk)
    expect(page.locator("#import-status")).to_have_text("已导入", timeout=15_000)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        assert_fits(page, width)

    page.goto(f"{live_server.url}/customers/{wang.pk}/")
    expect(orders).to_have_text("2")
    assert not Enrollment.objects.exists()
