"""An administrator connects an order system in a real browser: a source from the Youzan ready
mapping, its secret shown once, the sample payload tried (nothing stored), a broken mapping
refused with the reason; the pages fit 1280 and 390 px screens."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.customers.models import Customer, Event
from huifang.sources.models import Source
from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_source_from_a_ready_mapping_and_a_payload_tried(
    live_server: Any, page: Page, alice: Any
) -> None:
    log_in(page, live_server.url, "alice")
    page.click("#settings-menu")
    page.click("a[href='/settings/sources/']")
    expect(page.locator("h1")).to_have_text("外部推送来源")
    page.click("#new-source")
    page.fill("#id_name", "慢茶小铺（有赞）")
    page.fill("#id_slug", "youzan")
    page.check("input[name=ready][value=youzan-trade-paid]")
    page.click("#create-source")

    source = Source.objects.get(slug="youzan")
    expect(page.locator("#secret")).to_have_text(source.secret)
    expect(page.locator("#endpoint-url")).to_contain_text("/hooks/youzan/")
    assert_fits(page, 1280)

    page.click("#try-payload")  # the Youzan sample is in the box already
    trial = page.locator("#trial")
    expect(trial).to_contain_text("将新建一个客户")
    expect(trial).to_contain_text("138****8000")
    expect(trial).to_contain_text("purchase")
    expect(trial).to_contain_text("桂花乌龙 250g, 玻璃茶杯")
    assert not Customer.objects.exists() and not Event.objects.exists()
    expect(page.locator("#secret")).to_have_count(0)  # shown once, after creation only

    page.fill("#id_mapping", "customer: {external_id: buyer.id}")
    page.click("#save-mapping")
    expect(page.locator(".mapping-error")).to_contain_text("event: 此项为必填项。")
    source.refresh_from_db()
    assert "trade_TradePaid" in source.mapping

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/settings/sources/{source.pk}/")
    assert_fits(page, 390)
    page.goto(f"{live_server.url}/settings/sources/")
    expect(page.locator(f"#source-{source.pk}")).to_contain_text("慢茶小铺")
    assert_fits(page, 390)
