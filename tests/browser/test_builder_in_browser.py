"""An operations person builds the engine issue's example rule from an empty draft through the
builder only, sees a problem next to its field, previews the draft, activates it, and
``huifang rules export`` gives back the example. Then a bad change is rolled back in one click
and the simulation shows the earlier behaviour again."""

from __future__ import annotations

import io
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from huifang.rules.document import dump_rule, load_rule_text, parse_rule
from huifang.rules.models import Rule
from huifang.studio.simulate import simulate
from tests.browser.fixtures import assert_fits, log_in
from tests.rules.test_document import EXAMPLE  # the engine issue's example, as written

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def settle(page: Page) -> None:
    """Wait until every change sent to the builder has come back."""
    page.wait_for_timeout(30)
    page.wait_for_function(
        "() => !document.querySelector('#builder.htmx-request')"
        " && !document.querySelector('#builder .htmx-request')"
    )


def type_in(field: Locator, text: str) -> None:
    field.fill(text)
    field.blur()  # a change event: the builder keeps it


def press(page: Page, action: str) -> None:
    page.click(f"button[name=action][value='{action}']")
    settle(page)


def choose(page: Page, name: str, value: str) -> None:
    page.select_option(f"[name='{name}']", value)
    settle(page)


def fill(page: Page, name: str, value: str) -> None:
    type_in(page.locator(f"[name='{name}']"), value)
    settle(page)


def test_build_the_example_preview_activate_and_export(
    live_server: Any, page: Page, alice: Any
) -> None:
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/rules/")
    page.click("#new-rule")
    page.fill("#f-name", "购买后回访")
    page.fill("#f-key", "retail-after-purchase")
    page.click("#create-rule")
    expect(page.locator("#builder")).to_be_visible()

    # Trigger: a purchase of 500 or more, three days later.
    choose(page, "trigger.event", "purchase")
    press(page, "add_leaf:trigger.where")
    choose(page, "trigger.where.c.0.field", "properties.")
    fill(page, "trigger.where.c.0.key", "amount")
    choose(page, "trigger.where.c.0.op", "gte")
    fill(page, "trigger.where.c.0.value", "500")
    fill(page, "trigger.delay.amount", "3")

    # Who: VIP and regular customers.
    press(page, "add_leaf:audience")
    page.check("#f-audience-c-0-value-vip")
    settle(page)
    page.check("#f-audience-c-0-value-regular")
    settle(page)
    expect(page.locator("#audience-count")).to_have_text("0")

    # A problem shows next to its field, and goes once fixed.
    press(page, "add_step:message")
    fill(page, "steps.0.wait_reply.amount", "-3")
    expect(page.locator("[data-error-for='steps.0.wait_reply']")).to_be_visible()
    fill(page, "steps.0.wait_reply.amount", "3")
    expect(page.locator("[data-error-for='steps.0.wait_reply']")).to_have_count(0)

    fill(page, "steps.0.id", "first")
    fill(page, "steps.0.send.template", "purchase-3d")
    choose(page, "steps.0.on_reply", "stop")
    press(page, "add_step:message")
    fill(page, "steps.1.id", "second")
    fill(page, "steps.1.send.template", "purchase-3d-again")
    fill(page, "steps.1.wait_reply.amount", "7")
    choose(page, "steps.1.on_reply", "stop")
    press(page, "add_step:task")
    fill(page, "steps.2.id", "manual")
    fill(page, "steps.2.task.title", "电话回访 {{客户姓名}}")
    fill(page, "steps.2.task.sla.amount", "72")
    choose(page, "steps.2.task.sla.unit", "hours")
    choose(page, "steps.2.task.priority", "high")

    # Manners: no nights, working days, 3 a month.
    choose(page, "policy.quiet_hours.mode", "custom")
    choose(page, "policy.days", "business")
    press(page, "add_cap:")
    fill(page, "policy.misfire_grace.amount", "12")
    choose(page, "policy.misfire_grace.unit", "hours")
    fill(page, "policy.reenroll_after.amount", "30")
    for event in ("message_replied", "unsubscribed", "purchase"):
        page.check(f"#f-exit-on-{event}")
        settle(page)

    # Nothing is lost on a reload: the working copy is kept on the server.
    page.reload()
    expect(page.locator("[name='steps.2.task.title']")).to_have_value("电话回访 {{客户姓名}}")

    page.fill("#f-comment", "首版")
    page.click("#save-version")
    expect(page.locator("#versions tr[data-version='1']")).to_be_visible()

    page.click("#preview-activate")
    expect(page.locator("#chart-alone canvas")).to_be_visible(timeout=60_000)
    page.fill("#id_comment", "上线")
    page.click("#activate")
    expect(page.locator(".alert-success")).to_be_visible()

    rule = Rule.objects.get(key="retail-after-purchase")
    assert rule.status == Rule.Status.ACTIVE
    out = io.StringIO()
    call_command("rules", "export", "retail-after-purchase", stdout=out)
    assert load_rule_text(out.getvalue()) == load_rule_text(EXAMPLE)


def test_a_rollback_restores_the_earlier_behaviour(
    live_server: Any, page: Page, alice: Any
) -> None:
    from huifang.engine.lifecycle import activate
    from huifang.rules.services import save_rule
    from tests.engine.world import World

    world = World(timezone.now())
    customer = world.customer("王小明", tier="vip", phone="+8613800138000")
    world.event(customer, "purchase", at=world.now + timedelta(hours=1), amount=800)

    def sends() -> list[tuple[str, str, str]]:
        report = simulate(world.now, 14)
        return [(s["at"], s["step"], s["channel"]) for s in report["sends"]]

    good = load_rule_text(EXAMPLE)
    v1 = save_rule(good, comment="v1")
    activate(v1.rule, v1.version)
    before = sends()
    assert before  # v1 sends within the fortnight
    # v2, a bad change: the first message waits ten days instead of three.
    content = dump_rule(good)
    content["trigger"]["delay"] = {"days": 10}
    v2 = save_rule(parse_rule(content), comment="v2")
    activate(v2.rule, v2.version)
    assert sends() != before

    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/rules/retail-after-purchase/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[data-rollback='1']")
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.locator("#versions tr[data-version='3']")).to_contain_text("v3")

    rule = Rule.objects.get(key="retail-after-purchase")
    assert rule.current_version is not None and rule.current_version.number == 3
    assert parse_rule(rule.current_version.content) == good
    assert rule.changes.filter(action="rolled_back", actor=alice).exists()
    assert sends() == before  # exactly v1's behaviour again


def test_the_builder_works_on_a_phone(live_server: Any, page: Page, alice: Any) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/rules/new/")
    page.fill("#f-name", "手机上编辑")
    page.fill("#f-key", "phone-edit")
    page.click("#create-rule")
    choose(page, "trigger.event", "purchase")
    press(page, "add_leaf:audience")
    page.check("#f-audience-c-0-value-vip")
    settle(page)
    press(page, "add_step:message")
    press(page, "add_step:task")
    press(page, "up:steps.1")
    expect(page.locator("#steps li.step").first).to_have_attribute("data-step", "step-2")
    assert_fits(page, 390)
    draft = Rule.objects.get(key="phone-edit").draft
    assert draft is not None
    assert [s["id"] for s in draft["steps"]] == ["step-2", "step-1"]
    assert draft["audience"] == {"all": [{"field": "tier", "op": "in", "value": ["vip"]}]}


@pytest.mark.skipif(
    not os.environ.get("HUIFANG_SCREENSHOTS"),
    reason="set HUIFANG_SCREENSHOTS=1 to refresh docs/screenshots",
)
def test_take_builder_screenshots_for_the_docs(live_server: Any, page: Page, alice: Any) -> None:
    from huifang.demo.generator import generate

    generate(customers=300, seed=2, parallel=False, log=lambda _line: None)
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/rules/gallery/")
    page.click("[data-strategy='retail-after-purchase'] button[type=submit]")
    expect(page.locator("#audience-count")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "builder-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("#audience-count")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "builder-390.png"), full_page=True)
