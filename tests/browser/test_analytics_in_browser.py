"""The management cockpit in a real browser, on a desktop and on a phone: the KPI cards and
the charts drawn by ECharts, a change of period, and a drill-down from a number to its rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.analytics.seed import seed
from tests.browser.fixtures import assert_fits, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.mark.parametrize("width", [1280, 390])
def test_a_manager_changes_the_period_and_drills_down(
    live_server: Any, page: Page, alice: Any, service_team: Any, bob: Any, carol: Any, width: int
) -> None:
    seed(service_team, bob, carol)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/analytics/?from=2026-11-01&to=2026-11-30")
    expect(page.locator("h1")).to_contain_text("驾驶舱")
    expect(page.locator("[data-kpi=sent] .kpi-value")).to_have_text("50")
    expect(page.locator("[data-analytics-chart] canvas")).to_have_count(3)
    # The seed's six detractors have no recovery call: the first five, masked.
    expect(page.locator("#detractor-rows tbody tr")).to_have_count(5)
    expect(page.locator("#detractors")).to_contain_text("138****")
    expect(page.locator("[data-export=totals] a")).to_have_count(2)
    assert_fits(page, width)
    page.screenshot(path=SHOTS / f"analytics-cockpit-{width}.png", full_page=width == 390)

    # A shorter period: the 3rd and 4th, compared with the 1st and 2nd.
    page.fill("#period-from", "2026-11-03")
    page.fill("#period-to", "2026-11-04")
    page.click("#period-apply")
    expect(page.locator("#period-days")).to_contain_text("2026-11-03")
    expect(page.locator("[data-kpi=sent] .kpi-value")).to_have_text("20")
    expect(page.locator("[data-kpi=sent] .kpi-change")).to_contain_text("+100.0%")
    assert_fits(page, width)

    page.click("[data-kpi=sent] .kpi-value a")
    expect(page.locator("#list-title")).to_contain_text("消息")
    expect(page.locator("#drill-rows tbody tr")).to_have_count(20)
    expect(page.locator("#drill-rows")).to_contain_text("138****")
    assert_fits(page, width)
    if width == 1280:
        page.screenshot(path=SHOTS / "analytics-drilldown-1280.png")
