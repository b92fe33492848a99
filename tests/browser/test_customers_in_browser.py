"""Log in, find a customer by phone, open the 360 page — in a real browser."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.customers.models import Customer, Event
from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def test_an_agent_finds_a_customer_by_phone_and_opens_the_360(
    live_server: Any, page: Page, bob: Any
) -> None:
    wang = Customer.objects.create(
        external_id="C-1", name="王小明", phone="+8613800138000", province="浙江省", city="杭州市"
    )
    Customer.objects.create(name="李四", phone="+8613900139000")
    Event.objects.create(
        customer=wang,
        type="purchase",
        properties={"product": "空气净化器"},
        occurred_at=datetime.now(UTC) - timedelta(days=3),
    )
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/customers/")
    page.fill("#id_q", "138 0013 8000")
    page.keyboard.press("Enter")
    result = page.locator("#results a", has_text="王小明")
    expect(result).to_be_visible()
    expect(page.locator("#results a", has_text="李四")).to_have_count(0)
    result.click()
    expect(page.locator("#customer-name")).to_have_text("王小明")
    expect(page.locator("#timeline")).to_contain_text("空气净化器")
    expect(page.locator("#consent")).to_be_visible()


def test_on_a_phone_an_agent_finds_a_customer_by_the_last_digits_and_a_province_prefix(
    live_server: Any, page: Page, bob: Any
) -> None:
    Customer.objects.create(name="王小明", phone="+8613800138000", province="广东省", city="深圳市")
    Customer.objects.create(name="李四", phone="+8613900139001", province="浙江省", city="杭州市")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/customers/")
    page.fill("#id_q", "尾号8000")
    page.keyboard.press("Enter")
    expect(page.locator("#results a", has_text="王小明")).to_be_visible()
    expect(page.locator("#results a", has_text="李四")).to_have_count(0)
    page.goto(f"{live_server.url}/customers/?province=浙江")
    expect(page.locator("#results a", has_text="李四")).to_be_visible()
    expect(page.locator("#results a", has_text="王小明")).to_have_count(0)
    assert_fits(page, 390)


def test_the_list_fits_a_phone_screen(live_server: Any, page: Page, bob: Any) -> None:
    Customer.objects.bulk_create(
        Customer(name=f"客户{i}", phone="+8613800138000", province="广东省", city="深圳市")
        for i in range(30)
    )
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/customers/")
    expect(page.locator(".navbar-toggler")).to_be_visible()
    assert_fits(page, 390)


@pytest.mark.skipif(
    not os.environ.get("HUIFANG_SCREENSHOTS"),
    reason="set HUIFANG_SCREENSHOTS=1 to refresh docs/screenshots",
)
def test_take_screenshots_for_the_docs(live_server: Any, page: Page, alice: Any) -> None:
    """Every main page at 1280 and 390 px, on the demo data, as an administrator sees it."""
    from huifang.demo.generator import generate
    from huifang.rules.models import Rule
    from huifang.tasks.models import Task

    generate(customers=300, seed=2, parallel=False, log=lambda _line: None)
    vip = Customer.objects.filter(tier="vip").order_by("-order_count").first()
    task = Task.objects.filter(status="open", reason__gt="").order_by("-priority", "pk").first()
    rule = Rule.objects.order_by("key").first()
    assert vip is not None and task is not None and rule is not None
    pages = {
        "home": "/",
        "customers": "/customers/",
        "customer": f"/customers/{vip.pk}/",
        "customer-edit": f"/customers/{vip.pk}/edit/",
        "task": f"/tasks/{task.pk}/",
        "board": f"/tasks/board/?team={task.team_id}",
        "rules": "/rules/",
        "rule": f"/rules/{rule.key}/",
        "preview": f"/rules/{rule.key}/preview/",
        "analytics-cockpit": "/analytics/",
        "staff": "/settings/staff/",
        "profile": "/settings/profile/",
        "channels": "/channels/",
        "organisation": "/settings/organisation/",
    }
    log_in(page, live_server.url, "alice")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
        for name, url in pages.items():
            page.goto(f"{live_server.url}{url}")
            if name == "preview":
                page.wait_for_selector("#preview-result, #preview-error", timeout=120_000)
            page.wait_for_load_state("networkidle")
            assert_fits(page, width)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=False)


@pytest.mark.parametrize("width", [1280, 390])
def test_an_agent_shows_one_masked_number_and_the_reveal_is_recorded(
    live_server: Any, page: Page, bob: Any, width: int
) -> None:
    from huifang.audit.models import Entry

    wang = Customer.objects.create(
        external_id="C-1", name="王小明", phone="+8613800138000", email="wangxm@example.cn"
    )
    page.set_viewport_size({"width": width, "height": 844})
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/customers/{wang.pk}/")
    phone = page.locator(f"#pii-{wang.pk}-phone")
    expect(phone).to_contain_text("138****8000")
    expect(page.locator("body")).not_to_contain_text("13800138000")
    expect(page.locator("body")).not_to_contain_text("wangxm@")
    phone.locator("button.pii-reveal").click()
    expect(phone.locator("a.pii-value")).to_have_attribute("href", "tel:+8613800138000")
    expect(phone).to_contain_text("已记录")
    expect(page.locator(f"#pii-{wang.pk}-email")).to_contain_text("w***@example.cn")
    assert_fits(page, width)
    if os.environ.get("HUIFANG_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"customer-reveal-{width}.png"), full_page=False)
    assert list(Entry.objects.filter(action="reveal").values_list("actor", "verb")) == [
        ("bob", "phone")
    ]


def test_the_timeline_speaks_in_labels_and_filters_by_type(
    live_server: Any, page: Page, bob: Any
) -> None:
    wang = Customer.objects.create(name="王小明", phone="+8613800138000")
    now = datetime.now(UTC)
    Event.objects.create(
        customer=wang,
        type="purchase",
        amount=1299,
        properties={"product": "空气净化器", "order_id": "A-1", "amount": 1299},
        occurred_at=now - timedelta(days=3),
    )
    Event.objects.create(
        customer=wang,
        type="followup_reached",
        properties={"outcome": "reached", "tags": ["处理慢", "态度好"], "rule": None, "task": 7},
        occurred_at=now - timedelta(days=1),
    )
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/customers/{wang.pk}/")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("订单号 A-1")
    expect(timeline).to_contain_text("标签 处理慢、态度好")
    for code in ("order_id", "rule:", "None", "['", "tags:"):
        expect(timeline).not_to_contain_text(code)
    expect(page.locator("#timeline-count")).to_contain_text("2")
    page.select_option("#timeline-type", "purchase")
    expect(timeline).not_to_contain_text("处理慢")
    expect(timeline).to_contain_text("空气净化器")
    expect(page.locator("#timeline-count")).to_contain_text("1")
    assert_fits(page, 390)


def test_a_supervisor_edits_a_customer_and_records_consent_on_a_phone(
    live_server: Any, page: Page, carol: Any
) -> None:
    wang = Customer.objects.create(name="王小明", phone="+8613800138000")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/customers/{wang.pk}/")
    page.click("#edit-customer")
    expect(page.locator("#id_phone")).to_have_attribute(
        "placeholder", re.compile("138\\*\\*\\*\\*8000")
    )
    expect(page.locator("#id_phone")).to_have_value("")
    page.fill("#id_city", "杭州市")
    page.fill("#id_tags", "老客户, 物流慢")
    page.fill("#id_note", "只在工作日下午联系")
    assert_fits(page, 390)
    page.click("#save-customer")
    expect(page.locator(".alert-success")).to_contain_text("客户资料已保存")
    expect(page.locator("#customer-note")).to_contain_text("只在工作日下午联系")
    expect(page.locator("h1 ~ .badge, .badge", has_text="物流慢").first).to_be_visible()
    page.click("#consent-form summary")
    page.select_option("#id_channel", "sms")
    page.select_option("#id_status", "granted")
    page.fill("#id_evidence", "电话中口头同意")
    page.click("#record-consent")
    expect(page.locator("#consent")).to_contain_text("电话中口头同意")
    assert_fits(page, 390)
