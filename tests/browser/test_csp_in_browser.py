"""The pages under the Content-Security-Policy, in a real browser: none breaks it, and what
used to be inline script (``onchange=``, ``onsubmit=``, ``onclick=``) still works from
``static/huifang/page.js``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from huifang.accounts.models import ApiToken, Team
from huifang.customers.models import Customer
from huifang.messaging.models import Message
from huifang.messaging.unsubscribe import token_for
from huifang.tasks.models import Task
from huifang.tasks.services import create_tasks
from tests.browser.fixtures import log_in
from tests.engine.world import World, local
from tests.rules.test_document import EXAMPLE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Kept by the page from its first script on (Playwright adds it outside the page's policy).
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " "
    + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


class Violations:
    """CSP violations a page reports: its console's and its ``securitypolicyviolation``
    events, page by page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.context.add_init_script(LISTEN)
        page.on("console", self.heard)

    def heard(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.console.append(f"{self.page.url}: {text}")

    def on(self, path: str) -> list[str]:
        answer = self.page.goto(path)
        assert answer is not None and answer.ok, f"{path}: {answer and answer.status}"
        self.page.wait_for_load_state("networkidle")
        events = self.page.evaluate("window.__violations || []")
        return [f"{path}: {v}" for v in events]


@pytest.fixture
def violations(page: Page) -> Iterator[Violations]:
    yield Violations(page)


@pytest.fixture
def world_with_everything(alice: Any, bob: Any, service_team: Team) -> dict[str, Any]:
    world = World(local("2026-11-02 10:00"))
    rule = world.rule(EXAMPLE)
    customer = world.customer("王芳")
    (task,) = create_tasks(
        [customer],
        title="回访 {{客户姓名}}",
        script="您好 {{客户姓名}}",
        actor=alice,
        team=service_team,
        assignee=bob,
    )
    message = Message.objects.create(
        customer=customer,
        status=Message.Status.SENT,
        template="t",
        channel="sms",
        channels=["sms"],
        body="您好",
        planned_at=world.now,
        created_at=world.now,
        sent_at=world.now,
    )
    return {"rule": rule, "customer": customer, "task": task, "message": message}


def main_pages(things: dict[str, Any]) -> list[str]:
    rule, customer, task = things["rule"].key, things["customer"].pk, things["task"].pk
    message: Message = things["message"]
    return [
        "/",
        "/customers/",
        f"/customers/{customer}/",
        "/tasks/",
        f"/tasks/{task}/",
        "/tasks/board/",
        "/tasks/new/",
        "/rules/",
        "/rules/gallery/",
        "/rules/dashboard/",
        "/rules/sets/",
        f"/rules/{rule}/",
        f"/rules/{rule}/edit/",
        f"/rules/{rule}/preview/",
        "/templates/",
        "/templates/new/",
        "/messages/",
        f"/messages/{message.pk}/",
        "/channels/",
        "/channels/add/",
        "/settings/organisation/",
        "/settings/organisation/calendar/",
        "/settings/api-tokens/",
        "/settings/notifications/",
        "/settings/two-factor/",
        "/settings/audit/",
        "/admin/",
        "/admin/password_change/",
        "/api/docs",
    ]


def test_no_page_breaks_the_content_security_policy(
    live_server: Any, page: Page, violations: Violations, world_with_everything: dict[str, Any]
) -> None:
    base = live_server.url
    found = violations.on(f"{base}/login/")
    log_in(page, base, "alice")
    for path in main_pages(world_with_everything):
        found += violations.on(f"{base}{path}")
    expect(page.locator("#swagger-ui .information-container")).to_be_visible()  # /api/docs ran
    page.context.clear_cookies()
    found += violations.on(f"{base}/u/{token_for(world_with_everything['message'])}/")
    assert found + violations.console == []


def test_the_language_switch_still_switches(
    live_server: Any, page: Page, violations: Violations, bob: Any
) -> None:
    log_in(page, live_server.url, "bob")
    page.select_option("select[name=language]", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert violations.console == []


def test_revoking_a_token_still_asks_first(
    live_server: Any, page: Page, violations: Violations, alice: Any
) -> None:
    ApiToken.issue(name="order system")
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/settings/api-tokens/")
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()  # "no": nothing happens

    page.once("dialog", answer)
    page.click("form[data-confirm] button")
    assert asked and "order system" not in asked[0]
    assert not ApiToken.objects.get().is_revoked
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[data-confirm] button")
    expect(page.locator(".alert-success")).to_be_visible()
    assert ApiToken.objects.get().is_revoked
    assert violations.console == []


def test_select_all_on_the_board_still_selects_all(
    live_server: Any, page: Page, carol: Any, bob: Any, service_team: Team
) -> None:
    service_team.supervisor = carol
    service_team.save()
    customers = [Customer.objects.create(name=f"客户{i}") for i in range(3)]
    create_tasks(customers, title="回访", actor=carol, team=service_team, assignee=bob)
    log_in(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/tasks/board/")
    page.check("#check-all")
    boxes = page.locator("input[name=task]")
    expect(boxes).to_have_count(Task.objects.count())
    for index in range(boxes.count()):
        expect(boxes.nth(index)).to_be_checked()
