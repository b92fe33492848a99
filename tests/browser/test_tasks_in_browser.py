"""The agent's and the supervisor's day, in a real browser (Playwright driving chromium)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.customers.models import Customer
from huifang.tasks.models import Task
from huifang.tasks.services import create_tasks
from tests.browser.fixtures import assert_fits, log_in
from tests.conftest import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(bob: Any, carol: Any, service_team: Team) -> list[Task]:
    service_team.supervisor = carol
    service_team.save()
    customers = [
        Customer.objects.create(name=name, phone=f"+86138001380{i:02d}")
        for i, name in enumerate(["王小明", "李雷", "韩梅梅", "张伟"])
    ]
    return create_tasks(
        customers,
        title="满意度回访 {{客户姓名}}",
        script="您好 {{客户姓名}}，我们回访一下您最近的购买体验。",
        actor=carol,
        team=service_team,
        assignee=bob,
    )


def test_an_agent_records_a_low_score_and_the_remediation_task_appears(
    live_server: Any, page: Page, browser: Browser, queue: list[Task], service_team: Team
) -> None:
    log_in(page, live_server.url, "bob")
    page.click("nav >> text=我的回访")
    first = page.locator("#task-list .task-row").first
    expect(first).to_contain_text("满意度回访")
    first.click()
    expect(page.locator("#script")).to_contain_text("您好 王小明")
    page.click("label[for=outcome-reached]")
    page.select_option("#id_score", "2")
    page.fill("#id_notes", "物流太慢，包装破损")
    page.click("#save")
    expect(page.locator(".alert-success")).to_contain_text(service_team.name)
    expect(page.locator("#closed-note")).to_be_visible()

    remediation = Task.objects.get(kind=Task.Kind.REMEDIATION)
    assert remediation.team == service_team and remediation.parent == queue[0]
    assert remediation.priority == Task.Priority.URGENT

    supervisor = browser.new_context(locale="zh-CN").new_page()
    log_in(supervisor, live_server.url, "carol")
    supervisor.goto(f"{live_server.url}/tasks/board/")
    expect(supervisor.locator(f"#queue tr[data-task='{remediation.pk}']")).to_contain_text("王小明")
    supervisor.context.close()


def test_save_and_next_walks_the_queue_from_the_keyboard(
    live_server: Any, page: Page, queue: list[Task]
) -> None:
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/tasks/{queue[0].pk}/")
    page.click("label[for=outcome-not_reached]")
    page.keyboard.press("Control+Enter")
    expect(page).to_have_url(f"{live_server.url}/tasks/{queue[1].pk}/")
    assert Task.objects.get(pk=queue[0].pk).attempts == 1


def test_a_supervisor_bulk_reassigns_three_tasks(
    live_server: Any, page: Page, queue: list[Task], service_team: Team
) -> None:
    erin = make_staff("erin", Role.AGENT, team=service_team)
    log_in(page, live_server.url, "carol")
    page.click("nav >> text=团队看板")
    for task in queue[:3]:
        page.check(f"#queue tr[data-task='{task.pk}'] input[name=task]")
    page.select_option("#id_to", str(erin.pk))
    page.fill("#id_reason", "Bob 下午请假")
    page.click("#bulk-reassign-button")
    expect(page.locator(".alert-success")).to_contain_text("3")
    for task in queue[:3]:
        expect(page.locator(f"#queue tr[data-task='{task.pk}'] .assignee")).to_have_text("Erin")
    expect(page.locator(f"#queue tr[data-task='{queue[3].pk}'] .assignee")).to_have_text("Bob")


def test_the_workspace_fits_a_phone(live_server: Any, page: Page, queue: list[Task]) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "bob")
    for path in ("/tasks/", f"/tasks/{queue[0].pk}/"):
        page.goto(f"{live_server.url}{path}")
        assert_fits(page, 390)
    expect(page.locator("#save-next")).to_be_visible()
    page.click("#call-button")
    expect(page.locator("#call-link")).to_have_attribute("href", "tel:+8613800138000")


def test_on_a_phone_the_customer_and_the_call_come_first(
    live_server: Any, page: Page, queue: list[Task]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/tasks/{queue[0].pk}/")
    call = page.locator("#call-button").bounding_box()
    form = page.locator("#outcome-form").bounding_box()
    reason = page.locator("#why").bounding_box()
    assert call is not None and form is not None and reason is not None
    assert call["y"] + call["height"] < 844, "the call button is on the first screen"
    assert call["y"] < reason["y"] < form["y"]
    for target in ("#call-button", "label[for=outcome-reached]", "#save-next", "#save"):
        box = page.locator(target).bounding_box()
        assert box is not None and box["height"] >= 44, target
    assert_fits(page, 390)


def test_the_form_shows_what_the_outcome_needs_and_keys_pick_it(
    live_server: Any, page: Page, queue: list[Task]
) -> None:
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/tasks/{queue[0].pk}/")
    expect(page.locator("#keys-help")).to_contain_text("1…5")
    expect(page.locator("#id_score")).to_be_hidden()
    page.keyboard.press("1")  # reached
    expect(page.locator("#outcome-reached")).to_be_checked()
    expect(page.locator("#id_score")).to_be_visible()
    expect(page.locator("#id_call_back_at")).to_be_hidden()
    expect(page.locator("#id_revisit_at")).to_be_hidden()
    page.check("input[name=actions][value=revisit]")
    expect(page.locator("#id_revisit_at")).to_be_visible()
    page.keyboard.press("3")  # call back: the checkbox had the focus, not a text field
    expect(page.locator("#id_call_back_at")).to_be_visible()
    page.keyboard.press("2")  # not reached: notes only
    expect(page.locator("#id_score")).to_be_hidden()
    expect(page.locator("#id_notes")).to_be_visible()
    page.fill("#id_notes", "45")  # digits typed in a text field stay there
    expect(page.locator("#outcome-not_reached")).to_be_checked()
    expect(page.locator("#id_notes")).to_have_value("45")


def test_wrong_number_is_confirmed_and_can_be_undone(
    live_server: Any, page: Page, queue: list[Task]
) -> None:
    log_in(page, live_server.url, "bob")
    page.goto(f"{live_server.url}/tasks/{queue[0].pk}/")
    page.click("label[for=outcome-wrong_number]")
    expect(page.locator("#consequences")).to_contain_text("号码错误")
    page.click("#save")
    expect(page.locator("#error-confirm")).to_contain_text("请勾选确认")
    assert not Task.objects.get(pk=queue[0].pk).is_closed
    page.check("#id_confirm")
    page.click("#save")
    expect(page.locator(".alert-warning").first).to_contain_text("撤销")
    customer = queue[0].customer
    assert customer.consents.get(channel="sms").status == "withdrawn"
    page.click("#undo-button")
    expect(page.locator(".alert-success")).to_contain_text("任务重新打开")
    expect(page.locator("#outcome-form")).to_be_visible()
    assert not customer.consents.filter(channel="sms").exists()
    expect(page.locator("#task-history")).to_contain_text("结果已撤销")
