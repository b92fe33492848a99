"""Branches judge the reply that moved the step (``answer.csat`` …), never a stale figure on
the customer; ``answer.*`` anywhere else is refused with a clear message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import translation

from huifang.customers.events import record_event
from huifang.customers.models import Customer
from huifang.engine.models import Enrollment
from huifang.messaging.inbound import last_message, record_reply
from huifang.messaging.services import save_template
from huifang.rules.document import RuleError, parse_rule
from huifang.tasks.models import Task

from .world import World, local

pytestmark = pytest.mark.django_db

LOW = {"field": "answer.csat", "op": "lt", "value": 3}


def rule(exit_on: tuple[str, ...] = ()) -> dict:
    return {
        "key": "rate",
        "name": "rate",
        "trigger": {"kind": "event", "event": "service_completed"},
        "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
        "steps": [
            {
                "id": "rate",
                "send": {"channel": "sms", "template": "rate"},
                "wait_reply": {"days": 3},
                "branch": [{"when": LOW, "goto": "call"}],
                "on_reply": "stop",
            },
            {"id": "no-reply", "stop": True},
            {"id": "call", "task": {"title": "低分回访"}},
        ],
        "exit": {"on": list(exit_on)},
    }


def asked(world: World, *, exit_on: tuple[str, ...] = ()) -> Customer:
    save_template("rate", "sms", name="rate", body="请回复1-5", asks="csat")
    world.rule(rule(exit_on))
    customer = world.customer()
    world.event(customer, "service_completed")
    world.run()
    return customer


def answer(world: World, customer: Customer, text: str) -> None:
    message = last_message("sms", [customer.pk])
    assert message is not None
    record_reply(customer, "sms", text, message_id=message.pk, now=world.now)
    world.travel(timedelta(minutes=1))


@pytest.mark.parametrize(("text", "tasks"), [("1", 1), ("不满意", 1), ("3", 0), ("好的", 0)])
def test_the_score_in_the_reply_decides(world: World, text: str, tasks: int) -> None:
    customer = asked(world)
    answer(world, customer, text)
    assert Task.objects.filter(customer=customer).count() == tasks
    assert Enrollment.objects.get(customer=customer).status == Enrollment.Status.COMPLETED


def test_a_stale_low_score_on_the_customer_is_not_this_reply(world: World) -> None:
    customer = asked(world)
    months_ago = local("2026-06-01 10:00")
    record_event(
        customer.pk, "survey_answered", now=months_ago, occurred_at=months_ago,
        properties={"csat": 1},
    )  # fmt: skip
    answer(world, customer, "好的")
    customer.refresh_from_db()
    assert customer.last_satisfaction == 1
    assert not Task.objects.exists()


def test_no_reply_matches_no_answer_condition(world: World) -> None:
    customer = asked(world)
    world.travel(timedelta(days=4))
    assert not Task.objects.exists()
    enrollment = Enrollment.objects.get(customer=customer)
    assert (enrollment.status, enrollment.end_reason) == ("completed", "stopped")


def test_a_reply_that_is_also_an_exit_event_reaches_the_branch_first(world: World) -> None:
    customer = asked(world, exit_on=("survey_answered", "complaint"))
    answer(world, customer, "2")
    assert Task.objects.filter(customer=customer, step="call").count() == 1


def test_other_exit_events_still_end_the_plan_first(world: World) -> None:
    customer = asked(world, exit_on=("survey_answered", "complaint"))
    world.event(customer, "complaint")
    answer(world, customer, "1")
    assert not Task.objects.exists()
    assert Enrollment.objects.get(customer=customer).status == Enrollment.Status.EXITED


def misplaced() -> list[tuple[str, dict]]:
    no_wait = rule()
    no_wait["steps"][0].pop("wait_reply")
    no_wait["steps"][0].pop("on_reply")
    audience = rule() | {"audience": LOW}
    where = rule()
    where["trigger"] = where["trigger"] | {
        "where": {"field": "answer.nps", "op": "lte", "value": 6}
    }
    return [
        ("steps.0.branch.0.when.field", no_wait),
        ("audience.field", audience),
        ("trigger.where.field", where),
    ]


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", "judges the reply that moved a step: use it only in a branch of a step with "
               "wait_reply"),
        ("zh-hans", "只能用在设置了 wait_reply 的步骤的分支中"),
    ],
)  # fmt: skip
def test_answer_fields_elsewhere_are_refused(language: str, words: str) -> None:
    for place, document in misplaced():
        with translation.override(language), pytest.raises(RuleError) as raised:
            parse_rule(document)
        assert raised.value.field == place
        assert words in raised.value.message


def test_a_reply_without_a_score_has_no_is_empty_to_test() -> None:
    document = rule()
    document["steps"][0]["branch"][0]["when"] = {"field": "answer.csat", "op": "is_empty"}
    with pytest.raises(RuleError, match="is_empty"):
        parse_rule(document)


@pytest.mark.parametrize(
    ("field", "value", "low", "high"),
    [("answer.csat", 30, 1, 5), ("answer.nps", 11, 0, 10), ("answer.ces", 0, 1, 7)],
)
def test_a_score_outside_its_scale_is_refused(field: str, value: int, low: int, high: int) -> None:
    """A typo such as ``answer.csat lt 30`` would send every scored reply down the branch."""
    document = rule()
    document["steps"][0]["branch"][0]["when"] = {"field": field, "op": "lt", "value": value}
    english = f"{field} is a score from {low} to {high}."
    chinese = f"{field} 是 {low} 到 {high} 之间的评分。"
    for language, says in (("en", english), ("zh-hans", chinese)):
        with translation.override(language), pytest.raises(RuleError) as raised:
            parse_rule(document)
        assert raised.value.message == says
    document["steps"][0]["branch"][0]["when"]["value"] = 3
    parse_rule(document)  # on the scale: fine
