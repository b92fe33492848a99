"""A supervisor previews a draft's impact, sees its chart, and activates it — in a real browser."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from huifang.rules.models import Rule, RuleChange
from huifang.studio.models import Preview
from huifang.studio.tasks import compute_preview
from tests.browser.fixtures import assert_fits, log_in
from tests.engine.world import World
from tests.rules.test_preview import AFTER_PURCHASE, WELCOME

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_supervisor_previews_a_draft_and_activates_it_with_a_comment(
    live_server: Any, page: Page, carol: Any, bob: Any
) -> None:
    world = World(timezone.now())
    world.rule(WELCOME)
    rule = world.rule(AFTER_PURCHASE, active=False)
    for hours, name in ((2, "王小明"), (5, "李雷")):
        world.event(
            world.customer(name), "purchase", at=world.now + timedelta(hours=hours), amount=300
        )

    log_in(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/rules/{rule.key}/")
    page.click("#preview-activate")
    expect(page.locator("#impact-loading")).to_be_visible()
    # The simulations run once the page is there; then the charts are drawn on a canvas.
    expect(page.locator("#chart-alone canvas")).to_be_visible(timeout=60_000)
    expect(page.locator("#chart-together canvas")).to_be_visible()
    expect(page.locator("#preview-totals tr[data-total='enrollments']")).to_contain_text("2")

    # The quickest period that shows the rule at work comes first; a longer one on demand.
    expect(page.locator("#id_days")).to_have_value("7")
    page.select_option("#id_days", "14")
    expect(page.locator("#preview-result[data-days='14'] #chart-alone canvas")).to_be_visible(
        timeout=60_000
    )

    page.click("#activate")  # no comment yet
    expect(page.locator("#error-comment")).to_be_visible()
    # The page comes back with its figures (the test database cannot wait for the
    # simulation's lock as a real one does, so let it finish first).
    expect(page.locator("#chart-alone canvas")).to_be_visible(timeout=60_000)
    page.fill("#id_comment", "双十一前上线")
    page.click("#activate")
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page.locator("#rule-status")).to_have_class(re.compile(r"\brule-status-active\b"))

    rule.refresh_from_db()
    assert rule.status == Rule.Status.ACTIVE
    change = rule.changes.get(action=RuleChange.Action.ACTIVATED)
    assert (change.comment, change.actor) == ("双十一前上线", carol)


def test_the_page_waits_for_the_worker_then_shows_the_kept_figures_at_once(
    live_server: Any, page: Page, carol: Any, bob: Any, worker_later: None
) -> None:
    world = World(timezone.now())
    world.rule(WELCOME)
    rule = world.rule(AFTER_PURCHASE, active=False)
    buyer = world.customer("王小明")
    world.event(buyer, "purchase", at=world.now + timedelta(hours=2), amount=300)

    log_in(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/rules/{rule.key}/preview/")
    expect(page.locator("#preview-progress [role=progressbar]")).to_be_visible()
    expect(page.locator("#preview-state")).to_have_text("等待后台任务…")
    expect(page.locator("#activate")).to_be_disabled()

    compute_preview.call_local(Preview.objects.get().pk)  # the worker's part
    expect(page.locator("#chart-alone canvas")).to_be_visible(timeout=15_000)
    expect(page.locator("#preview-as-of")).to_contain_text("模拟起点")
    expect(page.locator("#activate")).to_be_enabled()

    # Kept: opened again, the figures are there without a worker.
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        expect(page.locator("#chart-alone canvas")).to_be_visible(timeout=15_000)
        assert_fits(page, width)
    assert Preview.objects.count() == 1

    page.click("#preview-again")
    expect(page.locator("#preview-progress")).to_be_visible()
    expect(page.locator("#activate")).to_be_disabled()
    assert Preview.objects.filter(status="queued").count() == 1
