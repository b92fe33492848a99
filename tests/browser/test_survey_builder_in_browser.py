"""An editor builds a questionnaire with a jump in the studio, at 1280 and at 390 px: the phone
preview follows each change, saving makes version 1, and a jump back (a loop) is refused with
the question named next to it and nothing typed lost."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from huifang.surveys.models import Response, Survey
from tests.browser.fixtures import assert_fits, log_in
from tests.browser.test_builder_in_browser import choose, fill, press, settle

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def shots() -> Path:
    return DOCS if os.environ.get("HUIFANG_SCREENSHOTS") else Path(tempfile.gettempdir())


def phone(page: Page) -> FrameLocator:
    return page.frame_locator("#survey-phone")


@pytest.mark.parametrize("width", [1280, 390])
def test_build_a_questionnaire_with_a_jump_preview_save_and_refuse_a_loop(
    live_server: Any, page: Page, alice: Any, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900 if width > 500 else 844})
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/rules/surveys/")
    page.click("#new-survey")
    expect(page.locator("#builder")).to_be_visible()
    fill(page, "name", "售后回访")
    fill(page, "key", "after-sales")
    # The starter question is a CSAT; a low score goes to a question on its own page.
    fill(page, "questions.0.title", "您对这次服务满意吗？")
    expect(phone(page).get_by_text("您对这次服务满意吗？")).to_be_visible()
    expect(phone(page).get_by_text("预览")).to_be_visible()
    press(page, "add:long_text")
    fill(page, "questions.1.title", "哪里让您不满意？")
    page.check("#f-questions-1-new_page")
    settle(page)
    press(page, "add_item:0.jumps")
    choose(page, "questions.0.jumps.0.op", "lte")
    fill(page, "questions.0.jumps.0.value", "2")
    choose(page, "questions.0.jumps.0.goto", "q2")
    press(page, "add_item:0.jumps")
    choose(page, "questions.0.jumps.1.goto", "end")
    assert_fits(page, width)
    page.select_option("#preview-from", "q2")
    expect(phone(page).get_by_text("哪里让您不满意？")).to_be_visible()
    # The preview cannot submit: the frame is sandboxed without forms.
    phone(page).locator("button[type=submit]").click()
    page.wait_for_timeout(300)
    assert not Response.objects.exists()
    page.screenshot(path=str(shots() / f"survey-builder-{width}.png"), full_page=True)

    page.click("#save-version")
    expect(page.locator(".alert-success")).to_contain_text("已保存为第 1 版")
    survey = Survey.objects.get(key="after-sales")
    assert survey.latest_version().content["questions"][0]["jumps"] == [  # type: ignore[union-attr]
        {"when": {"lte": 2}, "goto": "q2"},
        {"goto": "end"},
    ]

    # A jump back to the first question: refused at save, named, next to the question.
    press(page, "add_item:1.jumps")
    choose(page, "questions.1.jumps.0.goto", "q1")
    fill(page, "questions.1.help", "请尽量具体")
    page.click("#save-version")
    settle(page)
    card = page.locator("#q-1 .question-error")
    expect(card).to_contain_text("“q2”")
    expect(card).to_contain_text("q1")
    expect(page.locator("#f-questions-1-help")).to_have_value("请尽量具体")
    assert survey.versions.count() == 1
    assert_fits(page, width)
    page.screenshot(path=str(shots() / f"survey-builder-loop-{width}.png"), full_page=True)
    # The preview still shows the questionnaire as typed, with the problem above it.
    expect(page.locator("#preview-problem")).to_contain_text("q1")
    expect(phone(page).get_by_text("您对这次服务满意吗？")).to_be_visible()
