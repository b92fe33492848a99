"""Lists downloaded as they show, in a real browser: a supervisor's filtered customer list, an
agent's tab of follow-up tasks; the files hold what the list shows, masked, and each export is
audited."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from huifang.audit.models import Entry
from huifang.customers.models import Customer
from huifang.tasks.models import Task
from tests.browser.fixtures import assert_fits, log_in

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


def test_an_agent_downloads_their_tab_of_tasks(
    live_server: Any, page: Page, bob: Any, carol: Any, service_team: Any
) -> None:
    """At 1280 px an agent opens *My follow-ups*, picks the *Upcoming* tab and downloads it:
    the file holds that tab's tasks, theirs only, masked; the export is in the audit log."""
    wang = Customer.objects.create(name="王小明", phone="+8613800138000")
    later = timezone.now() + timedelta(days=3)
    Task.objects.create(
        customer=wang, team=service_team, assignee=bob, title="三天回访", due_at=later
    )
    Task.objects.create(
        customer=wang, team=service_team, assignee=carol, title="主管的", due_at=later
    )
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/tasks/?tab=upcoming")
    assert_fits(page, 1280)
    expect(page.locator("#export-tasks-xlsx")).to_be_visible()

    with page.expect_download() as download:
        page.click("#export-tasks-xlsx")
    assert download.value.suggested_filename == "tasks.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    rows = [[c.value for c in row] for row in book.active.iter_rows()]
    assert rows[0][:2] == ["任务编号", "标题"]
    assert [row[1] for row in rows[1:]] == ["三天回访"]
    assert "138****8000" in rows[1] and "+8613800138000" not in str(rows)
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert entry.actor == "bob" and entry.details["filters"] == "tab=upcoming"
