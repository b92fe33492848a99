"""A supervisor reads a questionnaire's results in a real browser, on a desktop and on a phone:
the figures, the trend drawn by ECharts, and a tag added to a text answer."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from huifang.surveys.models import AnswerTag
from tests.browser.fixtures import assert_fits, log_in
from tests.surveys.test_results import seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_a_supervisor_reads_the_results_and_tags_an_answer(
    live_server: Any, page: Page, carol: Any, width: int
) -> None:
    survey, _versions = seed(count=120)
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "carol")
    page.goto(f"{live_server.url}/rules/surveys/{survey.key}/results/?version=all&period=90d")

    expect(page.locator("h1")).to_contain_text("到店回访")
    expect(page.locator("#fig-answered")).not_to_have_text("0")
    expect(page.locator("[data-survey-chart][data-drawn=true] canvas")).to_have_count(1)
    expect(page.locator("[data-question=csat] .q-csat")).to_contain_text("%")
    assert_fits(page, width)
    shots = Path(tempfile.gettempdir())
    page.screenshot(path=shots / f"survey-results-{width}.png", full_page=True)
    page.screenshot(path=shots / f"survey-results-{width}-top.png")  # for a person to look at
    for part in ("cuts", "questions", "text-answers"):
        page.locator(f"#{part}").screenshot(path=shots / f"survey-results-{width}-{part}.png")

    first = page.locator("#text-answers [data-answer]").first
    first.locator("input[name=name]").fill("回访跟进")
    first.locator(".add-tag button[type=submit]").click()
    expect(first.locator(".answer-tag")).to_have_text("回访跟进")
    assert AnswerTag.objects.filter(name="回访跟进").count() == 1
