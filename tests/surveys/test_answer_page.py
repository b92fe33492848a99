"""The answer page, screen by screen with the test client: jumps decide the next screen, each
screen is checked before anything of it is stored, partial answers stay, and the end submits
once — the response, its answer rows and one ``survey_answered`` event with the scores."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.test import Client

from huifang.customers.models import Customer, Event
from huifang.surveys.document import load_survey_text
from huifang.surveys.models import Answer, Response, SurveyVersion
from huifang.surveys.services import save_survey

from .answering import flow_version, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def version() -> SurveyVersion:
    return flow_version()


@pytest.fixture
def wang() -> Customer:
    return Customer.objects.create(name="王芳")


@pytest.fixture
def link(version: SurveyVersion, wang: Customer) -> str:
    return url(version, wang)


def post(link: str, data: dict[str, Any]) -> Any:
    # A phone's browser: no cookie, no CSRF token, only the link.
    return Client(enforce_csrf_checks=True).post(link, data)


def answered(response: Response | None = None) -> dict[str, Any]:
    chosen = response or Response.objects.get()
    rows = Answer.objects.filter(response=chosen)
    return {row.question: row.value for row in rows}


def test_page_by_page_to_the_end(link: str, wang: Customer, version: SurveyVersion) -> None:
    first = Client().get(link)
    text = first.content.decode()
    assert first.status_code == 200
    assert first["Cache-Control"] == "private, no-store"
    assert "您对这次服务满意吗？" in text and "哪里让您不满意？" not in text  # page 2 waits

    step = post(link, {"q": "csat", "csat": "2"})
    assert step.status_code == 303 and step["Location"] == f"{link}?q=why"
    page2 = Client().get(step["Location"]).content.decode()
    assert "哪里让您不满意？" in page2 and "还有什么要补充的？" in page2
    assert "您对这次服务满意吗？" not in page2

    step = post(link, {"q": "why", "why": "waiting", "detail": "排队一小时"})
    assert step["Location"] == f"{link}?q=comment"
    step = post(link, {"q": "comment", "comment": "希望多开窗口", "nps": "6"})
    assert step["Location"] == f"{link}?done=1"
    thanks = Client().get(step["Location"]).content.decode()
    assert "感谢您的反馈，祝您生活愉快！" in thanks

    response = Response.objects.get()
    assert response.submitted_at is not None
    assert (response.csat, response.nps, response.ces) == (2, 6, None)
    expected = {
        "csat": 2,
        "why": "waiting",
        "detail": "排队一小时",
        "comment": "希望多开窗口",
        "nps": 6,
    }
    assert response.answers == expected
    assert answered() == expected
    assert Answer.objects.get(question="nps").number == 6.0
    assert Answer.objects.get(question="why").number is None
    (event,) = Event.objects.filter(customer=wang, type="survey_answered")
    assert event.properties == {
        "survey": "flow-check",
        "version": version.number,
        "response": response.pk,
        "message": 7,  # the message whose link it was: a reply to it
        "csat": 2,
        "nps": 6,
    }
    # The scores reach the customer's figures apart: CSAT 2 as satisfaction, NPS 6 as NPS.
    assert (event.score, event.nps) == (2, 6)
    wang.refresh_from_db()
    assert (wang.last_satisfaction, wang.last_nps, wang.nps_12m) == (2, 6, 6)


def test_a_jump_skips_a_page(link: str) -> None:
    step = post(link, {"q": "csat", "csat": "5"})
    assert step["Location"] == f"{link}?q=comment"
    step = post(link, {"q": "comment", "comment": "很好"})
    assert step["Location"] == f"{link}?done=1"
    response = Response.objects.get()
    assert response.answers == {"csat": 5, "comment": "很好"}
    assert (response.csat, response.nps) == (5, None)
    (event,) = Event.objects.filter(type="survey_answered")
    assert "nps" not in event.properties and event.properties["csat"] == 5


def test_a_required_question_left_empty_is_named_in_chinese_and_nothing_is_stored(
    link: str,
) -> None:
    page = post(link, {"q": "csat"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "请回答这个问题。" in text
    assert 'id="error-csat"' in text
    response = Response.objects.get()
    assert response.answers == {} and not Answer.objects.exists()


def test_an_option_the_question_does_not_have_is_refused_and_nothing_of_the_page_is_stored(
    link: str,
) -> None:
    post(link, {"q": "csat", "csat": "1"})
    page = post(link, {"q": "why", "why": "price", "detail": "写了也不存"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "请选择其中一个选项。" in text
    assert 'value="写了也不存"' in text  # what was typed comes back to be corrected
    assert answered() == {"csat": 1}
    for bad in ("11", "-1", "５", "3.5", "abc"):
        page = post(link, {"q": "csat", "csat": bad})
        assert "请选择 1 到 5 之间的数字。" in page.content.decode(), bad
    assert Response.objects.get().answers == {"csat": 1}


def test_partial_answers_are_kept_and_shown_again(link: str) -> None:
    post(link, {"q": "csat", "csat": "3"})
    post(link, {"q": "why", "why": "quality"})
    response = Response.objects.get()
    assert response.submitted_at is None
    assert response.answers == {"csat": 3, "why": "quality"} == answered()
    assert not Event.objects.filter(type="survey_answered").exists()
    again = Client().get(link).content.decode()  # another day, another browser
    assert 'value="3" autocomplete="off" checked' in again
    page2 = Client().get(f"{link}?q=why").content.decode()
    assert 'value="quality" checked' in page2


def test_a_later_screen_cannot_be_reached_past_an_unanswered_required_question(
    link: str,
) -> None:
    page = Client().get(f"{link}?q=comment")
    assert "您对这次服务满意吗？" in page.content.decode()  # back to the first screen
    step = post(link, {"q": "comment", "comment": "跳过必答题"})
    assert step.status_code == 303 and step["Location"] == link
    assert Response.objects.get().answers == {}


def test_answers_off_the_final_path_are_dropped_at_submission(link: str) -> None:
    post(link, {"q": "csat", "csat": "2"})
    post(link, {"q": "why", "why": "quality", "detail": "慢"})
    post(link, {"q": "csat", "csat": "4"})  # back, and changed their mind
    post(link, {"q": "comment", "comment": "其实还好"})
    response = Response.objects.get()
    assert response.submitted_at is not None
    assert response.answers == {"csat": 4, "comment": "其实还好"} == answered()


def test_a_second_post_after_submission_changes_nothing(link: str, wang: Customer) -> None:
    post(link, {"q": "csat", "csat": "5"})
    post(link, {"q": "comment", "comment": "很好", "nps": "10"})
    before = Response.objects.get()
    for data in ({"q": "comment", "comment": "改一下", "nps": "0"}, {"q": "csat", "csat": "1"}):
        again = post(link, data)
        assert again.status_code == 303 and again["Location"] == link
    after = Response.objects.get()
    assert (after.answers, after.submitted_at, after.nps) == (
        before.answers,
        before.submitted_at,
        10,
    )
    assert answered() == {"csat": 5, "comment": "很好", "nps": 10}
    assert Event.objects.filter(customer=wang, type="survey_answered").count() == 1
    shown = Client().get(link).content.decode()
    assert "您已经填写过这份问卷" in shown
    assert "很好" in shown and "<form" not in shown


def test_an_english_customer_gets_the_page_and_its_errors_in_english(
    version: SurveyVersion, wang: Customer
) -> None:
    wang.language = "en"
    wang.save()
    link = url(version, wang)
    page = post(link, {"q": "csat"})
    text = page.content.decode()
    assert '<html lang="en">' in text and "Please answer this question." in text


@time_machine.travel("2026-11-02 10:03:00+08:00", tick=False)  # well inside a 10-minute window
def test_posts_to_one_link_are_rate_limited(link: str, version: SurveyVersion) -> None:
    for _ in range(60):
        assert post(link, {"q": "csat"}).status_code == 200
    refused = post(link, {"q": "csat", "csat": "5"})
    assert refused.status_code == 429
    assert "尝试次数过多" in refused.content.decode()
    assert Response.objects.get().answers == {}
    other = Customer.objects.create(name="李雷")
    assert post(url(version, other), {"q": "csat"}).status_code == 200  # per link


def test_choices_dates_and_a_matrix_are_read_and_checked(wang: Customer) -> None:
    version = save_survey(load_survey_text(KINDS)).version
    link = url(version, wang)
    bad = post(
        link,
        {"q": "sides", "sides": ["a", "zz"], "day": "2026-13-01", "grid.speed": "good"},
    ).content.decode()
    assert "请在选项中选择。" in bad and "请输入像 2026-11-02 这样的日期。" in bad
    assert "请回答每一行。" in bad
    assert Response.objects.get().answers == {}
    done = post(
        link,
        {
            "q": "sides",
            "sides": ["b", "a"],
            "day": "2026-12-24",
            "grid.speed": "good",
            "grid.manner": "poor",
            "stars": "7",
        },
    )
    assert done["Location"].endswith("?done=1")
    assert Response.objects.get().answers == {
        "sides": ["a", "b"],
        "day": "2026-12-24",
        "grid": {"speed": "good", "manner": "poor"},
        "stars": 7,
    }


KINDS = """
key: kinds-check
name: 题型
questions:
  - id: sides
    type: multiple_choice
    title: 哪些方面？
    options: [{value: a, label: 甲}, {value: b, label: 乙}]
  - id: day
    type: date
    title: 哪天复诊？
  - id: grid
    type: matrix
    title: 各方面
    required: true
    rows: [{value: speed, label: 速度}, {value: manner, label: 态度}]
    columns: [{value: good, label: 好}, {value: poor, label: 差}]
  - id: stars
    type: rating
    max: 7
    title: 打几颗星？
"""
