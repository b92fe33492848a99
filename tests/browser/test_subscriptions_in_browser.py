"""An administrator subscribes a local receiver to completed tasks, sends a test and sees
the deliveries in the log — in a real browser, at desktop and phone widths."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.customers.models import Customer
from huifang.subscriptions import delivery
from huifang.subscriptions.models import Subscription
from huifang.tasks import outcomes
from huifang.tasks.services import create_tasks
from tests.browser.fixtures import assert_fits, log_in
from tests.subscriptions.receiver import SECRET, inbox, receiving

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def receiver(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    with receiving() as url:
        yield url


@pytest.mark.parametrize("width", [1280, 390])
def test_an_administrator_subscribes_and_sees_deliveries(
    live_server: Any, page: Page, alice: Any, bob: Any, receiver: str, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "alice")
    if width > 1000:
        page.click("#settings-menu")
        page.click("a.dropdown-item[href='/settings/subscriptions/']")
    else:
        page.goto(f"{live_server.url}/settings/subscriptions/")
    expect(page.locator("#no-subscriptions")).to_be_visible()
    assert_fits(page, width)

    page.click("#add-subscription")
    page.fill("#id_name", "订单系统")
    page.fill("#id_url", receiver)
    page.check("input[name=event_types][value='task.completed']")
    page.fill("#id_secret", SECRET)
    assert_fits(page, width)
    if os.environ.get("HUIFANG_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"subscriptions-form-{width}.png"), full_page=False)
    page.click("#save-subscription")
    expect(page.locator("#subscription-name")).to_have_text("订单系统")
    expect(page.locator("#no-deliveries")).to_be_visible()

    page.click("#send-test")
    row = page.locator("#deliveries tr.delivery").first
    expect(row.locator(".event-type")).to_have_text("subscription.test")
    expect(row.locator(".delivery-status")).to_have_attribute("data-status", "delivered")
    assert inbox.requests[0].verified

    customer = Customer.objects.create(name="王小明", phone="+8613800138000")
    (task,) = create_tasks([customer], title="购后回访", actor=bob, team=None, assignee=bob)
    outcomes.record(task, outcomes.Report(outcome="reached", score=5), actor=bob)
    assert delivery.run_until_idle() == 1
    page.reload()
    first = page.locator("#deliveries tr.delivery").first
    expect(first.locator(".event-type")).to_have_text("task.completed")
    expect(first.locator(".delivery-status")).to_have_attribute("data-status", "delivered")
    first.locator("summary").click()
    expect(first.locator(".payload")).to_contain_text("138****8000")
    expect(page.locator("#deliveries")).not_to_contain_text("13800138000")
    assert_fits(page, width)
    if os.environ.get("HUIFANG_SCREENSHOTS"):
        page.screenshot(path=str(SCREENSHOTS / f"subscriptions-log-{width}.png"), full_page=False)

    first.locator("button.replay").click()
    expect(page.locator("#deliveries tr.delivery")).to_have_count(3)
    assert Subscription.objects.get().deliveries.filter(replay_of__isnull=False).count() == 1
