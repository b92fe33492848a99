"""Distribution: a rule step ``survey: KEY`` sends each customer a personal questionnaire link
through the engine and the dispatcher, pinned to the version current when the message was made."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import translation

from huifang.accounts.models import StaffProfile, Team
from huifang.analytics.rollup import refresh
from huifang.customers.models import Customer, Event
from huifang.engine.runner import run_until_idle
from huifang.messaging.dispatch import Dispatcher
from huifang.messaging.models import Message, Reason
from huifang.messaging.services import preview, save_template
from huifang.rules.document import RuleError, parse_rule
from huifang.rules.models import Rule
from huifang.rules.services import save_rule
from huifang.studio.dashboard import figures, period_from
from huifang.surveys.document import load_survey_text
from huifang.surveys.models import Response, Survey
from huifang.surveys.services import save_survey
from tests.engine.world import World, local

from .answering import FLOW

pytestmark = pytest.mark.django_db

SHORT = re.compile(r"http://testserver/l/[0-9a-z]+-[0-9a-z]+-[A-Za-z0-9_-]{11}")


@pytest.fixture(autouse=True)
def base_url(settings: Any) -> None:
    settings.HUIFANG_BASE_URL = "http://testserver"


def rule(key: str = "ask", *, survey: str | None = "flow-check") -> dict[str, Any]:
    step: dict[str, Any] = {"id": "ask", "send": {"channel": "sms", "template": "ask"}}
    if survey:
        step["survey"] = survey
    return {
        "key": key,
        "name": "问卷",
        "trigger": {"kind": "event", "event": "visit"},
        "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
        "steps": [step],
    }


def questionnaire(title: str = "服务回访问卷") -> Any:
    return save_survey(load_survey_text(FLOW.replace("服务回访问卷", title, 1))).version


def sent(world: World, *customers: Customer) -> list[Message]:
    for customer in customers:
        world.event(customer, "visit")
    run_until_idle(world.clock)
    Dispatcher(world.clock).run_until_idle()
    return [Message.objects.get(customer=customer) for customer in customers]


def follow(client: Client, body: str) -> Any:
    """Open the link in an SMS as the customer's phone would: the short link, then the page."""
    [short] = SHORT.findall(body)
    hop = client.get(short.removeprefix("http://testserver"), HTTP_USER_AGENT="Mozilla/5.0")
    assert hop.status_code == 302
    return client.get(hop["Location"].removeprefix("http://testserver"))


def test_each_customer_gets_a_personal_link_that_opens_their_questionnaire(client: Client) -> None:
    world = World(local("2026-11-02 10:00"))
    version = questionnaire()
    save_template("ask", "sms", name="问卷", body="{{客户姓名}}您好，请作答 {{问卷链接}} 谢谢")
    team = Team.objects.create(key="east", name="华东")
    owner = get_user_model().objects.create_user("li", password="x")
    StaffProfile.objects.update_or_create(user=owner, defaults={"team": team})
    world.rule(rule())
    wang, zhao = world.customer("王芳", owner=owner), world.customer("赵雷")
    first, second = sent(world, wang, zhao)

    for message in (first, second):
        assert message.status == "sent"
        assert message.survey_version_id == version.pk
        assert "{{" not in message.body and SHORT.search(message.body)
    assert first.links != second.links  # a personal link each, not one for all
    assert first.links[0].startswith("http://testserver/s/")
    assert len(first.body) < 70  # one SMS part: the signed link travels as a short link

    page = follow(client, first.body)
    assert page.status_code == 200
    assert "您对这次服务满意吗" in page.content.decode()
    response = Response.objects.get()
    assert response.customer_id == wang.pk
    assert (response.message_id, response.channel) == (first.pk, "sms")
    assert response.rule_id == Rule.objects.get(key="ask").pk
    assert response.team_id == team.pk

    follow(client, second.body)
    other = Response.objects.exclude(pk=response.pk).get()
    assert (other.customer_id, other.message_id, other.team_id) == (zhao.pk, second.pk, None)


def test_the_version_is_pinned_when_the_message_is_made(client: Client) -> None:
    world = World(local("2026-11-02 10:00"))
    old = questionnaire()
    save_template(
        "ask", "sms", name="问卷", body="请作答 {{回访链接}}", followup_url="https://x.cn/"
    )
    world.rule(rule())
    [message] = sent(world, world.customer("王芳"))
    new = questionnaire(title="服务回访问卷（新版）")
    Survey.objects.filter(pk=new.survey_id).update(current_version=new)
    assert message.survey_version_id == old.pk
    # {{回访链接}} of a message that carries a questionnaire is the questionnaire link.
    assert message.links[0].startswith("http://testserver/s/")
    page = follow(client, message.body).content.decode()
    assert "服务回访问卷（新版）" not in page
    assert Response.objects.get().version_id == old.pk


def test_without_a_questionnaire_the_follow_up_link_is_as_before() -> None:
    world = World(local("2026-11-02 10:00"))
    save_template(
        "ask", "sms", name="问卷", body="请作答 {{回访链接}}", followup_url="https://x.cn/"
    )
    world.rule(rule(survey=None))
    [message] = sent(world, world.customer("王芳"))
    assert message.survey_version_id is None
    assert message.links == ["https://x.cn/"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "There is no questionnaire “nope”."), ("zh-hans", "没有标识为“nope”的问卷。")],
)
def test_an_unknown_questionnaire_is_refused_when_the_rule_is_saved(
    language: str, expected: str
) -> None:
    with translation.override(language), pytest.raises(RuleError) as refused:
        save_rule(parse_rule(rule(survey="nope")))
    assert (refused.value.field, refused.value.message) == ("steps.0.survey", expected)
    assert not Rule.objects.exists()


def test_rules_import_refuses_an_unknown_questionnaire(tmp_path: Any) -> None:
    path = tmp_path / "ask.json"
    path.write_text(json.dumps(rule(survey="nope")), encoding="utf-8")
    with translation.override("en"), pytest.raises(CommandError, match="nope"):
        call_command("rules", "import", str(path))
    assert not Rule.objects.exists()


def test_an_archived_questionnaire_is_refused_naming_it() -> None:
    version = questionnaire()
    Survey.objects.filter(pk=version.survey_id).update(status=Survey.Status.ARCHIVED)
    with translation.override("en"), pytest.raises(RuleError, match=r"flow-check.*archived"):
        save_rule(parse_rule(rule()))


def test_a_template_asking_for_a_questionnaire_link_needs_the_step_to_name_one() -> None:
    save_template("ask", "sms", name="问卷", body="请作答 {{问卷链接}}")
    with translation.override("zh-hans"), pytest.raises(RuleError) as refused:
        save_rule(parse_rule(rule(survey=None)))
    assert refused.value.field == "steps.0.survey"
    assert "问卷链接" in refused.value.message and "ask" in refused.value.message


def test_a_message_asking_for_a_link_it_does_not_carry_is_dropped_not_sent_empty() -> None:
    world = World(local("2026-11-02 10:00"))
    questionnaire()
    save_template("ask", "sms", name="问卷", body="您好")
    world.rule(rule())
    # The questionnaire is archived after the rule was saved, and the text changed since.
    Survey.objects.update(status=Survey.Status.ARCHIVED)
    save_template("ask", "sms", name="问卷", body="请作答 {{问卷链接}}")
    [message] = sent(world, world.customer("王芳"))
    assert (message.status, message.reason) == ("dropped", Reason.NO_SURVEY)
    assert message.survey_version_id is None and message.body == ""


def test_a_questionnaire_goes_only_with_a_message_or_a_task() -> None:
    document = rule()
    document["steps"] = [{"id": "w", "wait": {"days": 1}, "survey": "flow-check"}]
    with pytest.raises(RuleError, match="questionnaire"):
        parse_rule(document)
    document["steps"] = [{"id": "call", "task": {"title": "回访"}, "survey": "flow-check"}]
    assert parse_rule(document).steps[0].survey == "flow-check"


def test_the_template_preview_shows_a_sample_link_and_makes_no_response() -> None:
    world = World(local("2026-11-02 10:00"))
    questionnaire()
    shown = preview(
        {"body": "{{客户姓名}}您好，请作答 {{问卷链接}}"}, "sms", world.customer("王芳")
    )
    assert SHORT.search(shown.body) and shown.sms is not None
    assert shown.sms.segments == 1
    assert not Response.objects.exists()


def test_staff_who_open_a_customers_link_neither_answer_nor_count_a_click(
    alice_client: Client,
) -> None:
    """A message on the timeline shows its short link: a member of staff following it is not
    the customer — no click, no response started — and the click the customer makes is kept
    without the token that opens their answers."""
    world = World(local("2026-11-02 10:00"))
    questionnaire()
    save_template("ask", "sms", name="问卷", body="请作答 {{问卷链接}}")
    world.rule(rule())
    [message] = sent(world, world.customer("王芳"))

    page = follow(alice_client, message.body)
    assert page.status_code == 403
    assert "个人问卷链接" in page.content.decode()
    assert not Response.objects.exists()
    assert not message.clicks.exists()
    assert not Event.objects.filter(type="link_clicked").exists()

    assert follow(Client(), message.body).status_code == 200  # the customer's phone
    clicked = Event.objects.get(type="link_clicked")
    assert clicked.properties["url"] == "http://testserver/s/…/"
    assert message.clicks.get().url == "http://testserver/s/…/"
    assert message.links[0] not in json.dumps(clicked.properties, ensure_ascii=False)


def test_an_answer_through_the_link_is_a_reply_to_the_message_that_carried_it(
    client: Client,
) -> None:
    """The ``survey_answered`` event names the message, so the rule dashboard counts the
    message as replied to, like an SMS reply."""
    world = World(local("2026-11-02 10:00"))
    questionnaire()
    save_template("ask", "sms", name="问卷", body="请作答 {{问卷链接}}")
    world.rule(rule())
    [message] = sent(world, world.customer("王芳"))
    page = follow(client, message.body)
    link = page.wsgi_request.path
    client.post(link, {"q": "csat", "csat": "5"})
    client.post(link, {"q": "comment", "comment": "", "nps": "9"})
    answered = Event.objects.get(type="survey_answered")
    assert answered.properties["message"] == message.pk
    assert "task" not in answered.properties
    rule_id = Rule.objects.get(key="ask").pk
    now = answered.occurred_at  # the answer page keeps real time, not the world's clock
    last = (now + timedelta(days=1)).date().isoformat()  # the organisation's day may be ahead
    first = (now - timedelta(days=1)).date().isoformat()
    since = period_from({"period": "custom", "from": first, "to": last}, now)
    refresh(now)  # the worker's minute: the dashboard reads the daily rollups
    assert figures([rule_id], since, now)[rule_id].replied == 1
