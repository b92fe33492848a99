"""A customer answers the quarterly NPS on a 390 px phone through a personal link: a detractor's
score leads to the detractor's questions, the submission shows the thank-you text, and the
page neither scrolls sideways nor breaks the Content-Security-Policy. Then the detractor loop:
the ready strategy detractor-recovery opens the service team's call, where the agent takes the
re-visit questionnaire beside the script."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from huifang.accounts.models import Team
from huifang.customers.models import Customer, Event
from huifang.engine.lifecycle import activate
from huifang.engine.runner import run_until_idle
from huifang.rules.document import load_rule_text
from huifang.rules.services import LIBRARY as RULES
from huifang.rules.services import save_rule
from huifang.surveys.document import load_survey_text
from huifang.surveys.links import link_for
from huifang.surveys.models import Response, Survey, SurveyVersion
from huifang.surveys.services import LIBRARY, save_survey
from huifang.tasks.models import Task
from tests.browser.fixtures import assert_fits, log_in
from tests.engine.world import with_texts

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 390
SCREENSHOT = Path(tempfile.gettempdir()) / "survey-390.png"
TASK_SCREENSHOT = str(Path(tempfile.gettempdir()) / "phone-survey-task-{width}.png")


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


def _active(key: str) -> SurveyVersion:
    text = (LIBRARY / f"{key}.yaml").read_text(encoding="utf-8")
    saved = save_survey(load_survey_text(text))
    Survey.objects.filter(pk=saved.survey.pk).update(
        status=Survey.Status.ACTIVE, current_version=saved.version
    )
    return saved.version


def test_a_detractor_answer_reaches_the_timeline_and_the_service_teams_call(
    live_server: Any, phone: Page, browser: Browser, settings: Any, service_team: Team, bob: Any
) -> None:
    """The issue's "done when": a personal link at 390 px, a logic jump, submitted; the answer
    on the customer's timeline and NPS apart from CSAT; the detractor's call task for the
    service team with the re-visit questionnaire beside its script; the same link again makes
    no second answer; an expired link shows the expiry page."""
    settings.HUIFANG_BASE_URL = live_server.url
    version = _active("quarterly-nps")
    _active("revisit-check")
    strategy = with_texts(
        load_rule_text((RULES / "detractor-recovery.yaml").read_text(encoding="utf-8"))
    )
    saved = save_rule(strategy)
    activate(saved.rule, saved.version, now=timezone.now())
    customer = Customer.objects.create(name="王芳", external_id="C-9", phone="+8613900139000")
    link = link_for(version, customer, message_id=11)

    phone.goto(link)
    phone.click("label[for=nps-2]")
    phone.click("button[type=submit]")
    expect(phone.get_by_text("哪些方面让您不太愿意推荐我们？")).to_be_visible()  # the jump
    phone.check("text=服务")
    phone.fill("textarea[name=detractor_text]", "客服电话一直打不通")
    phone.click("button[type=submit]")
    expect(phone.get_by_text("感谢您抽出时间，您的意见对我们非常重要。")).to_be_visible()

    run_until_idle()  # the engine's tick: the survey_answered event enrolls the detractor
    task = Task.objects.get(customer=customer)
    assert (task.team, task.assignee, task.priority) == (service_team, bob, "high")

    # The same link again shows the answers; nothing new is stored.
    phone.goto(link)
    expect(phone.get_by_text("客服电话一直打不通")).to_be_visible()
    assert Response.objects.filter(customer=customer).count() == 1
    assert Event.objects.filter(customer=customer, type="survey_answered").count() == 1

    # An old link: the expiry page, in the customer's words.
    with time_machine.travel(timezone.now() - timedelta(days=40), tick=False):
        old = link_for(version, customer, message_id=12)
    assert phone.goto(old).status == 410  # type: ignore[union-attr]
    expect(phone.get_by_text("问卷链接已过期")).to_be_visible()
    assert Response.objects.filter(customer=customer).count() == 1

    # The service team's agent: the answer on the timeline, NPS apart from CSAT, the call.
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    agent = desk.new_page()
    log_in(agent, live_server.url, "bob")
    agent.goto(f"{live_server.url}/customers/{customer.pk}/")
    expect(agent.locator("#timeline")).to_contain_text("问卷回答")
    expect(agent.locator("#figure-nps .value")).to_have_text("2")
    expect(agent.locator("#figure-csat .value")).to_have_text("—")
    agent.goto(f"{live_server.url}/tasks/")
    agent.click("text=低分挽回：王芳")
    expect(agent.locator("#script")).to_contain_text("先感谢王芳填写问卷")
    # The rule's call step names the questionnaire: it is there, nothing to pick.
    expect(agent.locator("#phone-survey-choice")).to_have_count(0)
    expect(agent.locator("#phone-survey")).to_contain_text("您之前反馈的问题解决了吗？")
    script, survey = agent.locator("#script").bounding_box(), agent.locator("#phone-survey")
    box = survey.bounding_box()
    assert script is not None and box is not None and box["x"] > script["x"] + script["width"]
    agent.screenshot(path=TASK_SCREENSHOT.format(width=1280), full_page=True)

    on_phone = desk.new_page()
    on_phone.set_viewport_size({"width": WIDTH, "height": 844})
    on_phone.goto(agent.url)
    assert_fits(on_phone, WIDTH)
    script = on_phone.locator("#script").bounding_box()
    box = on_phone.locator("#phone-survey").bounding_box()
    assert script is not None and box is not None and box["y"] > script["y"]  # stacked
    on_phone.screenshot(path=TASK_SCREENSHOT.format(width=WIDTH), full_page=True)

    agent.click("label[for=solved-3]")  # not solved yet: what is left
    agent.click("#phone-survey-next")
    agent.fill("textarea[name=remaining]", "还需要上门检修")
    agent.click("#phone-survey-next")
    agent.click("label[for=csat-3]")
    agent.click("#phone-survey-next")
    expect(agent.locator("#phone-survey-state")).to_contain_text("已提交")
    expect(agent.locator("#phone-survey-answers")).to_contain_text("还需要上门检修")
    answered = Response.objects.get(task_id=task.pk)
    assert (answered.channel, answered.csat, answered.nps) == ("phone", 3, None)
    desk.close()
