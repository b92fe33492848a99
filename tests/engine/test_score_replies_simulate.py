"""The three ready strategies that ask "reply 1–5", end to end in ``huifang simulate``: a
customer's reply recorded in the period arrives again, is read against the simulated message
that asked, and a low score opens the call, a high one ends the plan, anything else follows
``on_reply``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from huifang.customers.events import record_event
from huifang.customers.models import Customer, Event
from huifang.messaging.services import load_template_library
from huifang.rules.services import LIBRARY
from huifang.tasks.models import Task

from .world import World, local

pytestmark = pytest.mark.django_db

START = "2026-11-02T00:00+08:00"  # a Monday


def simulate(*args: str) -> dict:
    out = StringIO()
    call_command("simulate", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def reply(customer: Customer, channel: str, text: str, at: datetime) -> None:
    """A reply as the inbound endpoints recorded it in earnest."""
    record_event(
        customer.pk,
        "message_replied",
        now=at,
        occurred_at=at,
        source=Event.Source.WEBHOOK,
        properties={"channel": channel, "text": text},
    )


# key, trigger event, when its message goes out, the channel replied on, the task's step
STRATEGIES = {
    "beauty-aftercare": ("service_completed", "2026-11-03 10:00", "sms", "call"),
    "ticket-closed-survey": ("ticket_closed", "2026-11-03 10:00", "sms", "call"),
    "retail-review-invite": ("purchase", "2026-11-09 10:00", "email", "care"),
}

# key, reply, tasks opened, how the plan ends
CASES = [
    ("beauty-aftercare", "2", 1, "completed:completed"),
    ("beauty-aftercare", "５分", 0, "completed:replied"),
    ("beauty-aftercare", "好的谢谢", 0, "completed:replied"),
    ("ticket-closed-survey", "1", 1, "completed:completed"),
    ("ticket-closed-survey", "非常满意", 0, "completed:stopped"),
    # Not a score: the problem is not solved, so someone calls (on_reply: call).
    ("ticket-closed-survey", "未解决", 1, "completed:completed"),
    ("retail-review-invite", "二", 1, "completed:completed"),
    # A score is a survey answer, on which this strategy exits once no branch wants it.
    ("retail-review-invite", "五星", 0, "exited:event:survey_answered"),
    ("retail-review-invite", "包装有点旧", 0, "completed:replied"),
]


def world_for(key: str) -> tuple[World, Customer, str, str]:
    world = World(local("2026-11-01 09:00"))
    load_template_library()
    world.rule((LIBRARY / f"{key}.yaml").read_text(encoding="utf-8"))
    customer = world.customer("回访客户")
    event, _sent, channel, step = STRATEGIES[key]
    details = {"amount": 399, "product": "保温杯"} if event == "purchase" else {}
    world.event(customer, event, at=local("2026-11-02 10:00"), **details)
    return world, customer, channel, step


@pytest.mark.parametrize(("key", "text", "tasks", "outcome"), CASES)
def test_a_recorded_reply_is_read_against_the_simulated_message(
    key: str, text: str, tasks: int, outcome: str
) -> None:
    _world, customer, channel, step = world_for(key)
    sent_at = local(STRATEGIES[key][1])
    reply(customer, channel, text, sent_at + timedelta(hours=2))

    report = simulate("--start", START, "--days", "14", "--rules", key)

    (sent,) = report["sends"]
    assert sent["at"] == sent_at.isoformat(timespec="minutes")
    (answer,) = report["replies"]
    assert answer["text"] == text
    assert answer["answers"] == sent["template"]
    assert [t["step"] for t in report["tasks"]] == [step] * tasks
    assert report["outcomes"] == {key: {outcome: 1}}
    assert not Task.objects.exists()  # nothing kept


@pytest.mark.parametrize(("text", "score"), [("2", 2), ("５分", 5), ("好的谢谢", None)])
def test_the_report_says_how_each_reply_was_read(text: str, score: int | None) -> None:
    _world, customer, channel, _step = world_for("beauty-aftercare")
    reply(customer, channel, text, local("2026-11-03 12:00"))
    (answer,) = simulate("--start", START, "--days", "7", "--rules", "beauty-aftercare")["replies"]
    assert (answer["metric"], answer["score"]) == (("csat", score) if score else ("", None))


def test_no_reply_ends_the_plan_without_a_call() -> None:
    for key in STRATEGIES:
        world_for(key)
    report = simulate("--start", START, "--days", "21", "--rules", ",".join(STRATEGIES))
    assert report["tasks"] == []
    assert report["outcomes"] == {key: {"completed:stopped": 1} for key in STRATEGIES}


def test_a_stale_low_score_does_not_take_the_branch() -> None:
    """Months ago the customer gave 2; now they reply "好的" to the new survey: no call."""
    _world, customer, channel, _step = world_for("beauty-aftercare")
    record_event(
        customer.pk,
        "survey_answered",
        now=local("2026-06-01 10:00"),
        occurred_at=local("2026-06-01 10:00"),
        properties={"csat": 2},
    )
    customer.refresh_from_db()
    assert customer.last_satisfaction == 2
    reply(customer, channel, "好的", local("2026-11-03 12:00"))
    report = simulate("--start", START, "--days", "7", "--rules", "beauty-aftercare")
    assert report["tasks"] == []


def test_the_text_report_lists_replies_and_tasks() -> None:
    _world, customer, channel, _step = world_for("beauty-aftercare")
    reply(customer, channel, "1", local("2026-11-03 12:00"))
    out = StringIO()
    call_command(
        "simulate", "--start", START, "--days", "7", "--rules", "beauty-aftercare", stdout=out
    )
    text = out.getvalue()
    assert "“1” → csat=1" in text
    assert "beauty-aftercare/call: 满意度低分回访 回访客户" in text
