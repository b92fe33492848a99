"""The gate's choices one by one: fallback channels, caps that defer or drop, max attempts,
transactional messages; and branching on a survey score (PRODUCT.md's closed loop)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from huifang.messaging.models import Message, Reason
from huifang.studio.gallery import load_library
from huifang.tasks.models import Task

from .world import World, local

pytestmark = pytest.mark.django_db

OPEN_ALL_DAY = {"start": "00:00", "end": "00:00"}


def send_rule(key: str, send: dict, *, delay_minutes: int = 0, **policy: object) -> dict:
    return {
        "key": key,
        "name": key,
        "trigger": {"kind": "event", "event": "visit", "delay": {"minutes": delay_minutes}},
        "policy": {"quiet_hours": OPEN_ALL_DAY, **policy},
        "steps": [{"id": "only", "send": send}],
    }


def test_fallback_channels_are_tried_in_order(world: World) -> None:
    world.rule(send_rule("fallback", {"channels": ["wecom", "sms"], "template": "t"}))
    no_wecom = world.customer(consent=("sms",))
    nothing = world.customer(consent=())
    world.event(no_wecom, "visit")
    world.event(nothing, "visit")
    world.run()
    assert Message.objects.get(customer=no_wecom).channel == "sms"
    dropped = Message.objects.get(customer=nothing)
    assert (dropped.status, dropped.reason) == ("dropped", Reason.NO_CONSENT)


def test_no_address_drops(world: World) -> None:
    world.rule(send_rule("mail", {"channel": "email", "template": "t"}))
    customer = world.customer(email="")
    world.event(customer, "visit")
    world.run()
    assert Message.objects.get().reason == Reason.NO_ADDRESS


@pytest.mark.parametrize("on_cap", ["defer", "drop"])
def test_a_cap_defers_until_the_window_frees_or_drops(world: World, on_cap: str) -> None:
    cap = [{"channel": "sms", "max": 1, "per_days": 7}]
    world.rule(send_rule("first", {"channel": "sms", "template": "a"}))
    world.rule(
        send_rule(
            "second", {"channel": "sms", "template": "b"}, delay_minutes=5, caps=cap, on_cap=on_cap
        )
    )
    customer = world.customer()
    world.event(customer, "visit")
    world.travel(timedelta(days=10))
    messages = {m.template: m for m in Message.objects.all()}
    assert messages["a"].status == "sent"
    capped = messages["b"]
    if on_cap == "drop":
        assert (capped.status, capped.reason) == ("dropped", Reason.CAP)
    else:
        assert capped.status == "sent"
        assert capped.decisions[0]["reason"] == Reason.CAP
        first = messages["a"].sent_at
        assert first is not None
        assert capped.sent_at == first + timedelta(days=7)


def test_transactional_messages_skip_caps_but_never_consent(world: World) -> None:
    cap = [{"channel": "any", "max": 1, "per_days": 30}]
    world.rule(send_rule("first", {"channel": "sms", "template": "a"}))
    world.rule(
        send_rule("receipt", {"channel": "sms", "template": "r", "transactional": True}, caps=cap)
    )
    allowed, refused = world.customer(), world.customer(consent=())
    world.event(allowed, "visit")
    world.event(refused, "visit")
    world.run()
    assert Message.objects.filter(customer=allowed, status="sent").count() == 2
    assert set(Message.objects.filter(customer=refused).values_list("reason", flat=True)) == {
        Reason.NO_CONSENT
    }


def test_max_attempts_drops_a_message_held_too_often(world: World) -> None:
    world.rule(
        send_rule(
            "night",
            {"channel": "sms", "template": "t"},
            quiet_hours={"start": "09:00", "end": "08:00"},  # open one hour a day
            caps=[{"channel": "any", "max": 1, "per_days": 30}],
            max_attempts=2,
        )
    )
    world.rule(send_rule("other", {"channel": "sms", "template": "x"}))
    customer = world.customer()
    world.event(customer, "visit")  # at 10:00: "other" goes out, "t" is held for the night
    world.travel(timedelta(days=35))  # 08:00: held by the cap for 30 days; then dropped
    held = Message.objects.get(template="t")
    assert (held.status, held.reason) == ("dropped", Reason.MAX_ATTEMPTS)
    assert [(d["action"], d.get("reason")) for d in held.decisions] == [
        ("defer", Reason.QUIET_HOURS),
        ("defer", Reason.CAP),
        ("drop", Reason.MAX_ATTEMPTS),
    ]


@pytest.mark.parametrize(("score", "task"), [(2, True), (5, False)])
def test_a_low_survey_score_branches_to_a_call(world: World, score: int, task: bool) -> None:
    load_library()
    from huifang.engine.lifecycle import activate
    from huifang.rules.models import Rule

    rule = Rule.objects.get(key="beauty-aftercare")
    version = rule.latest_version()
    assert version is not None
    activate(rule, version)
    customer = world.customer("美容客户")
    world.event(customer, "service_completed")
    world.travel(local("2026-11-03 12:00"))
    assert Message.objects.get(customer=customer).status == "sent"
    world.event(customer, "survey_answered", score=score)
    world.run()
    assert Task.objects.filter(customer=customer).exists() is task
