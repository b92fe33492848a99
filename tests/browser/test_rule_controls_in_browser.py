"""The strategy pages an administrator uses every day (issue 20): the status of each rule can be
read at a glance, the trigger of a rule never activated is named, the note typed before saving
a version is kept, and a running rule is paused, resumed and archived from its page with the
reason kept in its history."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from huifang.engine.lifecycle import activate
from huifang.rules.document import dump_rule, load_rule_text, parse_rule
from huifang.rules.models import Rule, RuleChange
from huifang.rules.services import save_rule
from tests.browser.fixtures import assert_fits, log_in
from tests.rules.test_document import EXAMPLE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def saved(key: str, name: str) -> Rule:
    content = dump_rule(load_rule_text(EXAMPLE))
    content["key"], content["name"] = key, name
    return save_rule(parse_rule(content), comment="v1").rule


def running(key: str = "retail-after-purchase", name: str = "购买后回访") -> Rule:
    rule = saved(key, name)
    activate(rule, rule.versions.get(number=1))
    return Rule.objects.get(pk=rule.pk)


def luminance(rgb: str) -> float:
    def channel(value: str) -> float:
        c = int(value) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(page: Page, selector: str) -> float:
    colours = page.eval_on_selector(
        selector,
        "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]",
    )
    assert "rgba(0, 0, 0, 0)" not in colours[1], f"{selector} has no background"
    lighter, darker = sorted((luminance(c) for c in colours), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_each_status_reads_at_a_glance_and_every_rule_names_its_trigger(
    live_server: Any, page: Page, alice: Any
) -> None:
    running()
    paused = running("paused-one", "暂停的策略")
    from huifang.engine.lifecycle import pause

    pause([paused], comment="test")
    saved("never-run", "从未启用")  # saved, never activated, no draft
    Rule.objects.create(key="only-draft", name="草稿策略", draft={"trigger": {"kind": "event"}})

    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/rules/")
    for status, key in (("active", "retail-after-purchase"), ("paused", "paused-one")):
        badge = f"tr:has(a[href='/rules/{key}/']) .rule-status-{status}"
        assert contrast(page, badge) >= 4.5
    assert contrast(page, "tr:has(a[href='/rules/never-run/']) .rule-status-draft") >= 4.5
    never_run = page.locator("tr:has(a[href='/rules/never-run/']) td").nth(1)
    expect(never_run).not_to_be_empty()
    expect(never_run).to_contain_text("购买后 3 天")  # the kind and the event, in words
    only_draft = page.locator("tr:has(a[href='/rules/only-draft/']) td").nth(1)
    expect(only_draft).to_contain_text("发生某件事时")

    page.goto(f"{live_server.url}/rules/paused-one/")
    assert contrast(page, "#rule-status") >= 4.5
    expect(page.locator("#rule-status")).to_have_text("已暂停")


def test_the_note_typed_before_saving_a_version_is_kept(
    live_server: Any, page: Page, alice: Any
) -> None:
    rule = running()
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/rules/{rule.key}/edit/")
    page.fill("#f-name", "购买后回访（三天后）")
    page.locator("#f-name").blur()
    page.wait_for_function("() => !document.querySelector('#builder.htmx-request')")
    # Typed, then straight to the button: leaving the box sends the form as a change first.
    page.fill("#f-comment", "首条消息改为三天后")
    page.click("#save-version")
    page.wait_for_url(f"**/rules/{rule.key}/")
    expect(page.locator("#versions tr[data-version='2']")).to_contain_text("首条消息改为三天后")
    assert rule.versions.get(number=2).comment == "首条消息改为三天后"
    assert rule.changes.get(action=RuleChange.Action.SAVED, version__number=2).comment == (
        "首条消息改为三天后"
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_pause_resume_and_archive_from_the_rule_page(
    live_server: Any, page: Page, alice: Any, width: int
) -> None:
    rule = running()
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/rules/{rule.key}/")
    assert_fits(page, width)
    # A pause needs a reason: the browser keeps the form until one is typed.
    page.click("form[data-state='pause'] button")
    expect(page.locator("#rule-status")).to_have_text("有效")
    page.fill("form[data-state='pause'] input[name=reason]", "双11 期间暂停，避免打扰")
    page.click("form[data-state='pause'] button")
    expect(page.locator("#rule-status")).to_have_text("已暂停")
    expect(page.locator("#changes")).to_contain_text("双11 期间暂停，避免打扰")
    assert Rule.objects.get(pk=rule.pk).status == Rule.Status.PAUSED

    page.click("form[data-state='resume'] button")  # a reason is optional to resume
    expect(page.locator("#rule-status")).to_have_text("有效")

    page.fill("form[data-state='archive'] input[name=reason]", "活动结束")
    page.once("dialog", lambda dialog: dialog.dismiss())  # asked first; "no" leaves it running
    page.click("form[data-state='archive'] button")
    expect(page.locator("#rule-status")).to_have_text("有效")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[data-state='archive'] button")
    expect(page.locator("#rule-status")).to_have_text("已归档")
    expect(page.locator("#rule-state")).to_have_count(0)  # nothing more to switch
    assert_fits(page, width)
    history = list(
        Rule.objects.get(pk=rule.pk).changes.order_by("pk").values_list("action", "comment")
    )
    assert history[-3:] == [
        (RuleChange.Action.PAUSED, "双11 期间暂停，避免打扰"),
        (RuleChange.Action.RESUMED, ""),
        (RuleChange.Action.ARCHIVED, "活动结束"),
    ]


def test_a_change_without_its_reason_or_out_of_turn_changes_nothing(
    live_server: Any, alice_client: Client, bob_client: Client
) -> None:
    rule = running()
    answer = alice_client.post(f"/rules/{rule.key}/state/pause/", {"reason": " "}, follow=True)
    assert "请说明原因" in answer.content.decode()
    answer = alice_client.post(f"/rules/{rule.key}/state/resume/", follow=True)
    assert "未做更改" in answer.content.decode()
    assert alice_client.post(f"/rules/{rule.key}/state/explode/").status_code == 302
    assert bob_client.post(f"/rules/{rule.key}/state/pause/", {"reason": "x"}).status_code == 403
    assert alice_client.get(f"/rules/{rule.key}/state/pause/").status_code == 405
    rule.refresh_from_db()
    assert rule.status == Rule.Status.ACTIVE
    assert not rule.changes.filter(action=RuleChange.Action.PAUSED).exists()
