"""Rule versions and the operator's levers: a changed rule is a new immutable version, running
plans keep, move to or end with it; rollback, copy, pause and resume — by function and by the
``huifang rules`` command."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from huifang.core.models import ImmutableVersion
from huifang.engine.lifecycle import activate, archive, pause, resume, rollback
from huifang.engine.models import DueStep, Enrollment
from huifang.messaging.models import Message, Reason
from huifang.rules.document import RuleError, parse_rule
from huifang.rules.models import Rule, RuleVersion
from huifang.rules.services import copy_rule, save_rule

from .world import World, local, with_texts

pytestmark = pytest.mark.django_db

KEY = "after-visit"


def document(
    template: str, *, key: str = KEY, grace_hours: int | None = None, **policy: Any
) -> dict[str, Any]:
    """Visit → "hello" at once → two days → ``template``. No quiet hours, so sends are exact."""
    policy = {"quiet_hours": {"start": "00:00", "end": "00:00"}, **policy}
    if grace_hours is not None:
        policy["misfire_grace"] = {"hours": grace_hours}
    return {
        "key": key,
        "name": "到店后回访",
        "trigger": {"kind": "event", "event": "visit"},
        "policy": policy,
        "steps": [
            {"id": "first", "send": {"channel": "sms", "template": "hello"}, "wait": {"days": 2}},
            {"id": "second", "send": {"channel": "sms", "template": template}},
        ],
    }


def start_v1_then_save_v2(world: World) -> tuple[Rule, RuleVersion, RuleVersion]:
    """ "老客户" is part-way through v1 (first message sent, waiting), then v2 is saved."""
    rule = world.rule(document("a"))
    world.event(world.customer("老客户"), "visit")
    world.run()
    assert [m.template for m in world.sent()] == ["hello"]
    saved = save_rule(with_texts(parse_rule(document("b"))))
    assert saved.changed
    v1 = rule.versions.get(number=1)
    return rule, v1, saved.version


def templates(step: str = "second") -> dict[str, str]:
    return dict(
        Message.objects.filter(step=step, status=Message.Status.SENT).values_list(
            "customer__name", "template"
        )
    )


def versions_of_plans() -> dict[str, int]:
    return dict(Enrollment.objects.values_list("customer__name", "version__number"))


def test_saving_a_changed_document_adds_a_version(world: World) -> None:
    rule = world.rule(document("a"))
    unchanged = save_rule(with_texts(parse_rule(document("a"))))
    assert (unchanged.changed, unchanged.version.number) == (False, 1)
    changed = save_rule(with_texts(parse_rule(document("b"))), comment="new wording")
    assert (changed.changed, changed.version.number) == (True, 2)
    assert changed.version.comment == "new wording"
    assert changed.version.content["steps"][1]["send"]["template"] == "b"
    rule.refresh_from_db()
    assert rule.latest_version() == changed.version
    # Saved is not running: v1 runs until v2 is activated.
    assert rule.current_version is not None and rule.current_version.number == 1
    world.event(world.customer("新客户"), "visit")
    assert versions_of_plans() == {"新客户": 1}


def test_keep_leaves_running_plans_on_the_version_they_started(world: World) -> None:
    rule, _v1, v2 = start_v1_then_save_v2(world)
    assert activate(rule, v2, now=world.now) == 0  # keep is the default
    world.event(world.customer("新客户"), "visit")
    assert versions_of_plans() == {"老客户": 1, "新客户": 2}
    world.travel(timedelta(days=3))
    assert templates() == {"老客户": "a", "新客户": "b"}
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}


def test_move_switches_running_plans_at_their_next_step(world: World) -> None:
    rule = world.rule(document("a"))
    world.event(world.customer("已完成"), "visit")
    world.travel(timedelta(days=3))  # a plan finished on v1: history, never moved
    world.event(world.customer("老客户"), "visit")
    world.run()
    v2 = save_rule(with_texts(parse_rule(document("b")))).version
    assert activate(rule, v2, in_flight="move", now=world.now) == 1
    assert versions_of_plans() == {"已完成": 1, "老客户": 2}
    world.travel(timedelta(days=3))
    assert templates() == {"已完成": "a", "老客户": "b"}
    # The first message, sent under v1 before the move, stays as it was.
    assert set(templates("first").values()) == {"hello"}


def test_move_to_a_version_without_their_step_ends_the_plan(world: World) -> None:
    rule, _v1, _v2 = start_v1_then_save_v2(world)
    renamed = document("a")
    renamed["steps"][0]["id"] = "intro"  # the step they are waiting after is gone
    v3 = save_rule(with_texts(parse_rule(renamed))).version
    activate(rule, v3, in_flight="move", now=world.now)
    world.travel(timedelta(days=3))
    enrollment = Enrollment.objects.get()
    assert (enrollment.status, enrollment.end_reason) == ("ended", "step_removed")
    assert templates() == {}


def test_end_stops_running_plans_and_cancels_their_pending_steps(world: World) -> None:
    rule, _v1, v2 = start_v1_then_save_v2(world)
    old = Enrollment.objects.get()
    pending = DueStep.objects.get(enrollment=old, status=DueStep.Status.DUE)
    assert activate(rule, v2, in_flight="end", now=world.now) == 1
    old.refresh_from_db()
    assert (old.status, old.end_reason, old.ended_at) == ("ended", "version_changed", world.now)
    pending.refresh_from_db()
    assert pending.status == DueStep.Status.CANCELLED
    assert not DueStep.objects.filter(enrollment=old, status=DueStep.Status.DUE).exists()
    # New customers still enroll, on v2.
    world.event(world.customer("新客户"), "visit")
    world.travel(timedelta(days=3))
    assert templates() == {"新客户": "b"}
    assert versions_of_plans() == {"老客户": 1, "新客户": 2}


def test_end_cancels_a_message_held_for_quiet_hours(world: World) -> None:
    rule = world.rule(document("a", quiet_hours={"start": "21:00", "end": "08:00"}))
    customer = world.customer()
    world.clock.set(local("2026-11-02 22:30"))
    world.event(customer, "visit")
    world.run()  # "hello" is due now, held until 08:00
    held = Message.objects.get()
    assert (held.status, held.reason) == (Message.Status.DEFERRED, Reason.QUIET_HOURS)
    v2 = save_rule(with_texts(parse_rule(document("b")))).version
    activate(rule, v2, in_flight="end", now=world.now)
    held.refresh_from_db()
    assert (held.status, held.reason) == (Message.Status.CANCELLED, Reason.ENDED)
    assert not DueStep.objects.filter(status=DueStep.Status.DUE).exists()
    world.travel(local("2026-11-06 12:00"))
    assert world.sent(customer) == []


def test_rollback_runs_the_old_content_as_a_new_version(world: World) -> None:
    rule, v1, v2 = start_v1_then_save_v2(world)
    activate(rule, v2, now=world.now)
    before = {v.pk: (v.number, v.content, v.comment) for v in rule.versions.all()}

    v3 = rollback(rule, v1)

    rule.refresh_from_db()
    assert (v3.number, v3.content, rule.current_version_id) == (3, v1.content, v3.pk)
    assert v3.comment == "回滚到第 1 版"  # in the organisation's language (zh-Hans)
    after = {v.pk: (v.number, v.content, v.comment) for v in rule.versions.all()}
    assert after == {**before, v3.pk: (3, v1.content, "回滚到第 1 版")}
    # Saving v1's document again now changes nothing: v3 already has it.
    assert not save_rule(with_texts(parse_rule(document("a")))).changed
    world.event(world.customer("新客户"), "visit")
    world.travel(timedelta(days=3))
    assert templates() == {"老客户": "a", "新客户": "a"}
    assert versions_of_plans() == {"老客户": 1, "新客户": 3}


def test_a_saved_version_can_never_change(world: World) -> None:
    rule = world.rule(document("a"))
    v1 = rule.versions.get()
    original = copy.deepcopy(v1.content)
    v1.content["steps"][1]["send"]["template"] = "tampered"
    with pytest.raises(ImmutableVersion):
        v1.save()
    with pytest.raises(ImmutableVersion):
        v1.save(update_fields=["comment"])
    assert RuleVersion.objects.get(pk=v1.pk).content == original
    assert RuleVersion.objects.filter(rule=rule).count() == 1


def test_a_paused_rule_enrolls_nobody_and_holds_its_steps(world: World) -> None:
    rule = world.rule(document("a", grace_hours=12))
    early = world.customer("早")
    world.event(early, "visit")
    world.run()
    pending = DueStep.objects.get(status=DueStep.Status.DUE)
    assert pending.due_at == local("2026-11-04 10:00")

    assert pause([rule]) == 1
    rule.refresh_from_db()
    assert rule.status == Rule.Status.PAUSED
    world.event(world.customer("暂停期间"), "visit")
    assert Enrollment.objects.count() == 1
    world.travel(local("2026-11-04 16:00"))  # six hours past the due moment
    assert world.run() == 0
    pending.refresh_from_db()
    assert pending.status == DueStep.Status.PAUSED
    assert not Message.objects.filter(step="second").exists()

    # Resumed within the 12-hour grace: the step runs now, late.
    assert resume([rule]) == 1
    world.run()
    pending.refresh_from_db()
    assert pending.status == DueStep.Status.DONE
    (message,) = Message.objects.filter(step="second")
    assert (message.status, message.template, message.sent_at) == ("sent", "a", world.now)
    assert message.planned_at == local("2026-11-04 10:00")
    # Events that arrived while it was paused are not enrolled after the fact.
    assert Enrollment.objects.count() == 1
    assert Enrollment.objects.get().status == Enrollment.Status.COMPLETED


def test_resuming_beyond_the_grace_drops_the_message_as_missed(world: World) -> None:
    rule = world.rule(document("a", grace_hours=12))
    customer = world.customer()
    world.event(customer, "visit")
    world.run()
    pause([rule])
    world.travel(local("2026-11-05 10:00"))  # 24 hours past the due moment
    resume([rule])
    world.run()
    message = Message.objects.get(step="second")
    assert (message.status, message.reason) == (Message.Status.DROPPED, Reason.MISSED)
    assert message.decisions[-1]["reason"] == Reason.MISSED
    step = DueStep.objects.get(kind=DueStep.Kind.RUN, step="second")
    assert step.status == DueStep.Status.MISSED
    assert [m.template for m in world.sent(customer)] == ["hello"]
    enrollment = Enrollment.objects.get()
    assert (enrollment.status, enrollment.end_reason) == ("completed", "completed")


def test_a_date_rule_enrolls_nobody_for_the_days_it_was_paused() -> None:
    world = World(local("2026-11-02 01:00"))
    rule = world.rule(
        {
            "key": "birthday",
            "name": "生日关怀",
            "trigger": {"kind": "date", "field": "birthday"},
            "steps": [{"id": "wish", "send": {"channel": "sms", "template": "birthday"}}],
        }
    )
    born = {day: world.customer(birthday=date(1990, 11, day)) for day in range(2, 15)}
    world.evaluate()  # 2 and 3 November
    pause([rule])
    for _day in range(10):
        world.travel(timedelta(days=1), evaluate=True)
    assert Enrollment.objects.count() == 2  # nothing new while paused
    resume([rule], now=world.now)  # 12 November, 01:00
    world.evaluate()
    world.run()
    enrolled = set(Enrollment.objects.values_list("customer_id", flat=True))
    assert enrolled == {born[day].pk for day in (2, 3, 12, 13)}


def test_pausing_a_paused_rule_or_resuming_a_running_one_does_nothing(world: World) -> None:
    rule = world.rule(document("a"))
    assert resume([rule]) == 0
    assert pause([rule]) == 1
    assert pause([rule]) == 0
    assert resume([rule]) == 1
    assert Rule.objects.get(pk=rule.pk).status == Rule.Status.ACTIVE


def test_copy_makes_a_draft_with_a_new_key_and_the_same_steps(world: World) -> None:
    rule = world.rule(document("a"))
    copied = copy_rule(rule, "after-visit-618", "618 到店后回访")
    assert copied.changed
    new = copied.rule
    assert (new.key, new.name, new.status, new.current_version) == (
        "after-visit-618",
        "618 到店后回访",
        Rule.Status.DRAFT,
        None,
    )
    assert copied.version.number == 1
    assert copied.version.comment == f"复制自「{rule.name}」"  # in the organisation's language
    assert rule.current_version is not None
    original = rule.current_version.content
    assert copied.version.content["steps"] == original["steps"]
    assert copied.version.content["trigger"] == original["trigger"]
    # A draft enrolls nobody; the original is untouched.
    world.event(world.customer(), "visit")
    assert set(Enrollment.objects.values_list("rule__key", flat=True)) == {KEY}
    assert Rule.objects.get(pk=rule.pk).status == Rule.Status.ACTIVE
    with pytest.raises(RuleError):
        copy_rule(rule, "after-visit-618", "again")


def test_bulk_pause_and_resume_count_the_rules_they_changed(world: World) -> None:
    rules = [world.rule(document("a", key=f"rule-{n}")) for n in range(3)]
    draft = world.rule(document("a", key="a-draft"), active=False)
    assert pause([*rules, draft]) == 3  # a draft is not running: nothing to pause
    assert set(Rule.objects.values_list("key", "status")) == {
        ("rule-0", "paused"),
        ("rule-1", "paused"),
        ("rule-2", "paused"),
        ("a-draft", "draft"),
    }
    assert resume([rules[0], rules[1], draft]) == 2
    assert dict(Rule.objects.values_list("key", "status")) == {
        "rule-0": "active",
        "rule-1": "active",
        "rule-2": "paused",
        "a-draft": "draft",
    }


def command(*args: str) -> str:
    out = StringIO()
    call_command("rules", *args, stdout=out)
    return out.getvalue()


def test_the_rules_command_pauses_resumes_and_activates(world: World) -> None:
    rule, _v1, _v2 = start_v1_then_save_v2(world)
    assert "paused 1 rule(s)" in command("pause", KEY)
    assert Rule.objects.get(pk=rule.pk).status == "paused"
    assert "resumed 1 rule(s)" in command("resume", KEY)
    assert Rule.objects.get(pk=rule.pk).status == "active"

    out = command("activate", KEY, "--in-flight", "move")
    assert f"{KEY}: running version 2 (1 moved/ended)" in out
    assert versions_of_plans() == {"老客户": 2}
    world.travel(timedelta(days=3))
    assert templates() == {"老客户": "b"}

    out = command("activate", KEY, "--version", "1")
    assert "running version 1" in out
    rule.refresh_from_db()
    assert rule.current_version is not None and rule.current_version.number == 1

    assert f"{KEY}\tactive\tv1\t到店后回访" in command("list")


def test_the_rules_command_rolls_back(world: World) -> None:
    rule, v1, v2 = start_v1_then_save_v2(world)
    activate(rule, v2, now=world.now)
    out = command("rollback", KEY, "--to", "1", "--in-flight", "move")
    assert f"{KEY}: version 3 runs version 1's content" in out
    rule.refresh_from_db()
    assert rule.current_version is not None
    assert (rule.current_version.number, rule.current_version.content) == (3, v1.content)
    assert rule.versions.count() == 3
    assert versions_of_plans() == {"老客户": 3}
    world.travel(timedelta(days=3))
    assert templates() == {"老客户": "a"}


def test_the_rules_command_refuses_unknown_rules_and_versions(world: World) -> None:
    world.rule(document("a"))
    for args in (
        ("pause", "no-such-rule"),
        ("pause", KEY, "no-such-rule"),
        ("activate", "no-such-rule"),
        ("rollback", "no-such-rule", "--to", "1"),
    ):
        with pytest.raises(CommandError, match="no rule with the key no-such-rule"):
            command(*args)
    # Several keys with one unknown: all or nothing, the known rule was not paused.
    assert Rule.objects.get(key=KEY).status == "active"
    with pytest.raises(CommandError, match="no version 7"):
        command("rollback", KEY, "--to", "7")
    with pytest.raises(CommandError, match="no such version"):
        command("activate", KEY, "--version", "7")
    assert Rule.objects.get(key=KEY).versions.count() == 1


def test_archiving_ends_running_plans_and_keeps_history(world: World) -> None:
    rule, _v1, _v2 = start_v1_then_save_v2(world)
    assert archive([rule]) == 1
    rule.refresh_from_db()
    assert rule.status == Rule.Status.ARCHIVED
    enrollment = Enrollment.objects.get()
    assert (enrollment.status, enrollment.end_reason) == ("ended", "archived")
    assert not DueStep.objects.filter(status=DueStep.Status.DUE).exists()
    world.event(world.customer("新客户"), "visit")
    assert Enrollment.objects.count() == 1  # an archived rule enrolls nobody
    assert templates("first") == {"老客户": "hello"}  # history stays
    out = StringIO()
    call_command("rules", "archive", rule.key, stdout=out)
    assert "archived 0 rule(s)" in out.getvalue()
