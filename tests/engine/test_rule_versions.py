"""Versions pin running plans (DESIGN invariant 6); activation chooses what happens to the
customers in flight; rollback, copy, pause and resume — by function and by command."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from huifang.engine.models import DueStep, Enrollment
from huifang.outbox.models import Message, Reason
from huifang.rules.document import parse_rule
from huifang.rules.models import ImmutableVersion, Rule, RuleVersion
from huifang.rules.services import activate, copy_rule, pause, resume, rollback, save_rule

from .world import World, local

pytestmark = pytest.mark.django_db


def document(template: str, *, key: str = "after-visit") -> dict:
    return {
        "key": key,
        "name": "到店后回访",
        "trigger": {"kind": "event", "event": "visit"},
        "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
        "steps": [
            {"id": "first", "send": {"channel": "sms", "template": "hello"}, "wait": {"days": 2}},
            {"id": "second", "send": {"channel": "sms", "template": template}},
        ],
    }


@pytest.fixture
def world() -> World:
    return World(local("2026-11-02 10:00"))


def in_flight(world: World) -> tuple[Rule, RuleVersion]:
    """One customer part-way through v1 (first message sent, waiting two days), then v2 saved."""
    rule = world.rule(document("v1-second"))
    world.event(world.customer("老客户"), "visit")
    world.run()
    saved = save_rule(parse_rule(document("v2-second")))
    assert saved.version.number == 2
    return rule, saved.version


def second_templates() -> dict[str, str]:
    return dict(Message.objects.filter(step="second").values_list("customer__name", "template"))


def test_keep_leaves_running_plans_on_their_version(world: World) -> None:
    rule, v2 = in_flight(world)
    activate(rule, v2)  # keep is the default
    world.event(world.customer("新客户"), "visit")
    world.travel(timedelta(days=3))
    assert second_templates() == {"老客户": "v1-second", "新客户": "v2-second"}
    assert Enrollment.objects.get(customer__name="老客户").version.number == 1


def test_move_switches_them_at_their_next_step(world: World) -> None:
    rule, v2 = in_flight(world)
    assert activate(rule, v2, in_flight="move") == 1
    world.travel(timedelta(days=3))
    assert second_templates() == {"老客户": "v2-second"}
    # The first message, sent under v1, is history and stays as it was.
    assert Message.objects.get(step="first").template == "hello"


def test_end_stops_them_and_cancels_their_steps(world: World) -> None:
    rule, v2 = in_flight(world)
    assert activate(rule, v2, in_flight="end") == 1
    enrollment = Enrollment.objects.get()
    assert (enrollment.status, enrollment.end_reason) == ("ended", "version_changed")
    assert set(DueStep.objects.filter(enrollment=enrollment).values_list("status", flat=True)) == {
        "done",
        "cancelled",
    }
    world.travel(timedelta(days=3))
    assert second_templates() == {}


def test_rollback_runs_old_content_as_a_new_version(world: World) -> None:
    rule, v2 = in_flight(world)
    activate(rule, v2)
    v1 = rule.versions.get(number=1)
    v3 = rollback(rule, v1)
    rule.refresh_from_db()
    assert (v3.number, rule.current_version_id) == (3, v3.pk)
    assert v3.content == v1.content
    assert rule.versions.get(number=2).content["steps"][1]["send"]["template"] == "v2-second"
    with pytest.raises(ImmutableVersion):
        v1.save()


def test_paused_rules_enroll_nobody_and_hold_their_steps(world: World) -> None:
    rule = world.rule(
        {
            **document("x"),
            "policy": {
                "quiet_hours": {"start": "00:00", "end": "00:00"},
                "misfire_grace": {"hours": 12},
            },
        }
    )
    early = world.customer("早")
    world.event(early, "visit")
    world.run()  # first message sent; second due in two days
    assert pause([rule]) == 1
    world.event(world.customer("暂停期间"), "visit")
    assert Enrollment.objects.count() == 1
    world.travel(timedelta(days=2, hours=6))
    assert not Message.objects.filter(step="second").exists()
    assert DueStep.objects.filter(status="paused").count() == 1
    # Resumed 6 hours after the step fell due: within the 12 h grace, it runs late.
    assert resume([rule]) == 1
    world.run()
    assert Message.objects.get(step="second").status == "sent"


def test_resuming_after_the_grace_marks_the_step_missed(world: World) -> None:
    rule = world.rule(
        {
            **document("x"),
            "policy": {
                "quiet_hours": {"start": "00:00", "end": "00:00"},
                "misfire_grace": {"hours": 1},
            },
        }
    )
    world.event(world.customer(), "visit")
    world.run()
    pause([rule])
    world.travel(timedelta(days=3))
    resume([rule])
    world.run()
    message = Message.objects.get(step="second")
    assert (message.status, message.reason) == ("dropped", Reason.MISSED)
    assert DueStep.objects.filter(status="missed").count() == 1


def test_copy_and_bulk_pause_resume(world: World) -> None:
    rule = world.rule(document("x"))
    other = world.rule(document("y", key="other-rule"))
    copied = copy_rule(rule, "after-visit-618", "618 到店后回访")
    assert (copied.rule.status, copied.rule.name) == ("draft", "618 到店后回访")
    assert copied.version.content["steps"] == rule.current_version.content["steps"]
    assert pause([rule, other, copied.rule]) == 2  # a draft is not running
    assert resume([rule, other]) == 2
    assert set(Rule.objects.values_list("key", "status")) == {
        ("after-visit", "active"),
        ("other-rule", "active"),
        ("after-visit-618", "draft"),
    }


def test_the_rules_command(world: World) -> None:
    rule, _v2 = in_flight(world)
    out = StringIO()
    call_command("rules", "activate", rule.key, "--in-flight", "move", stdout=out)
    assert "version 2" in out.getvalue()
    call_command("rules", "rollback", rule.key, "--to", "1", stdout=out)
    call_command("rules", "pause", rule.key, stdout=out)
    assert Rule.objects.get(pk=rule.pk).status == "paused"
    call_command("rules", "resume", rule.key, stdout=out)
    call_command("rules", "list", stdout=out)
    assert f"{rule.key}\tactive\tv3" in out.getvalue()
    with pytest.raises(CommandError, match="no rule"):
        call_command("rules", "pause", "nope")
    with pytest.raises(CommandError, match="no version 9"):
        call_command("rules", "rollback", rule.key, "--to", "9")


def test_archiving_ends_running_plans_and_keeps_history(world: World) -> None:
    rule, _v2 = in_flight(world)
    call_command("rules", "archive", rule.key, stdout=StringIO())
    rule.refresh_from_db()
    assert rule.status == "archived"
    enrollment = Enrollment.objects.get()
    assert (enrollment.status, enrollment.end_reason) == ("ended", "archived")
    world.event(world.customer(), "visit")
    assert Enrollment.objects.count() == 1
    assert Message.objects.filter(step="first").count() == 1  # history stays
