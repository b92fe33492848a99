"""An admin opens the holiday calendar and marks a company day off — in a real browser."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.models import CalendarDay
from tests.browser.fixtures import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_marks_a_company_day_off_in_the_calendar(
    live_server: Any, page: Page, alice: Any
) -> None:
    log_in(page, live_server.url, "alice")
    page.click("#settings-menu")  # the navigation's Settings menu
    page.click('nav a[href="/settings/organisation/"]')
    expect(page.locator("#organisation-form")).to_be_visible()
    page.click("#open-calendar")
    page.click("#next-year")  # the year after the current one, whatever today is
    year = date.today().year + 1
    expect(page.locator(".month")).to_have_count(12)

    day = f"{year}-03-03"  # a Wednesday in 2027; whatever weekday it is, a click flips it
    cell = page.locator(f"#day-{day}")
    was_working = cell.get_attribute("data-working") == "1"
    page.fill("#mark-name", "公司年会")
    cell.click()
    expect(cell).to_have_attribute("aria-pressed", "true")
    expect(cell).to_have_class(re.compile(r"\bday-marked\b"))
    expect(cell).to_have_attribute("data-working", "0" if was_working else "1")
    expect(cell).to_have_attribute("title", re.compile("公司年会"))
    row = CalendarDay.objects.get(date=date.fromisoformat(day))
    assert (row.name, row.created_by_id) == ("公司年会", alice.pk)
    assert BusinessCalendar.load().is_working_day(row.date) is not was_working

    page.reload()  # the mark is stored, not only drawn
    expect(page.locator(f"#day-{day}")).to_have_attribute("aria-pressed", "true")
    page.locator(f"#day-{day}").click()  # and a second click takes it back
    expect(page.locator(f"#day-{day}")).to_have_attribute("aria-pressed", "false")
    assert not CalendarDay.objects.exists()
