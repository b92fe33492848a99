"""A supervisor puts the 618 rules in a strategy set, previews the switch and switches, in a
real browser (Playwright driving chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.rules.models import Rule, RuleChange, StrategySet
from tests.browser.fixtures import log_in
from tests.engine.world import World, local

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAILY = {
    "key": "daily-thanks",
    "name": "日常感谢",
    "trigger": {"kind": "event", "event": "purchase", "delay": {"hours": 1}},
    "steps": [{"id": "thanks", "send": {"channel": "sms", "template": "thanks"}}],
}
PROMO = {
    "key": "promo-618",
    "name": "618 大促回访",
    "trigger": {"kind": "event", "event": "purchase", "delay": {"hours": 1}},
    "steps": [{"id": "coupon", "send": {"channel": "email", "template": "coupon-618"}}],
}


def test_a_supervisor_creates_a_set_previews_the_switch_and_switches(
    live_server: Any, page: Page, carol: Any
) -> None:
    world = World(local("2026-06-01 09:00"))
    world.rule(DAILY)
    world.rule(PROMO, active=False)

    log_in(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/rules/")
    page.click("#strategy-sets-link")
    page.click("#new-set")
    page.fill("#id_name", "618 大促")
    page.fill("#id_key", "double-618")
    page.check("#set-rules label:has-text('618 大促回访') >> xpath=preceding-sibling::input")
    page.click("#save-set")

    expect(page).to_have_url(f"{live_server.url}/rules/sets/double-618/")
    expect(page.locator("#plan-start")).to_contain_text("618 大促回访")
    expect(page.locator("#plan-stop")).to_contain_text("日常感谢")

    page.select_option("#id_days", "7")
    page.click("#preview-button")
    # Two simulations of the week run on the server: give them time.
    expect(page.locator("#preview-table")).to_be_visible(timeout=60_000)
    expect(page.locator("#preview-start")).to_contain_text("618 大促回访")
    expect(page.locator("#preview-stop")).to_contain_text("日常感谢")
    expect(page.locator("#chart-after canvas")).to_have_count(1)  # drawn by ECharts
    expect(page).to_have_url(f"{live_server.url}/rules/sets/double-618/")  # fetched in place

    page.fill("#id_switch-comment", "618 大促开始")
    page.check("#id_switch-in_flight_0")
    page.click("#switch-now")
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.locator("#set-active")).to_be_visible()
    expect(page.locator("#plan-none")).to_be_visible()

    assert dict(Rule.objects.values_list("key", "status")) == {
        "daily-thanks": "paused",
        "promo-618": "active",
    }
    assert StrategySet.objects.get(key="double-618").is_active
    change = RuleChange.objects.get(rule__key="promo-618", action=RuleChange.Action.SWITCHED)
    assert change.actor == carol and change.comment == "618 大促: 618 大促开始"
