"""A customer answers the quarterly NPS on a 390 px phone through a personal link: a detractor's
score leads to the detractor's questions, the submission shows the thank-you text, and the
page neither scrolls sideways nor breaks the Content-Security-Policy."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from huifang.customers.models import Customer, Event
from huifang.surveys.document import load_survey_text
from huifang.surveys.links import link_for
from huifang.surveys.models import Response
from huifang.surveys.services import LIBRARY, save_survey
from tests.browser.fixtures import assert_fits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 390
SCREENSHOT = Path(tempfile.gettempdir()) / "survey-390.png"


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": WIDTH, "height": 844}, locale="zh-CN", is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_a_detractor_answers_the_quarterly_nps_on_a_phone(
    live_server: Any, phone: Page, settings: Any
) -> None:
    settings.HUIFANG_BASE_URL = live_server.url
    text = (LIBRARY / "quarterly-nps.yaml").read_text(encoding="utf-8")
    version = save_survey(load_survey_text(text)).version
    customer = Customer.objects.create(name="王芳")
    refused: list[str] = []

    def heard(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)

    phone.on("console", heard)

    phone.goto(link_for(version, customer, message_id=1))
    expect(phone.get_by_text("您有多大可能把我们推荐给朋友或同事？")).to_be_visible()
    assert_fits(phone, WIDTH)
    phone.click("label[for=nps-3]")
    phone.click("button[type=submit]")

    expect(phone.get_by_text("哪些方面让您不太愿意推荐我们？")).to_be_visible()
    expect(phone.get_by_text("您最喜欢我们的哪一点？")).to_have_count(0)  # the promoters' page
    assert_fits(phone, WIDTH)
    phone.check("text=价格")
    phone.check("text=响应速度")
    phone.fill("textarea[name=detractor_text]", "希望客服回复再快一些")
    expect(phone.locator("button[type=submit]")).to_have_text("提交")
    phone.click("button[type=submit]")

    expect(phone.get_by_text("感谢您抽出时间，您的意见对我们非常重要。")).to_be_visible()
    assert_fits(phone, WIDTH)
    phone.screenshot(path=SCREENSHOT, full_page=True)  # for a person to look at
    assert refused == []

    response = Response.objects.get()
    assert (response.nps, response.csat) == (3, None)
    assert response.answers == {
        "nps": 3,
        "detractor": ["price", "speed"],
        "detractor_text": "希望客服回复再快一些",
    }
    event = Event.objects.get(customer=customer, type="survey_answered")
    assert event.properties["nps"] == 3 and "csat" not in event.properties
