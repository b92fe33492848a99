"""Strategy sets (策略组): switching a whole set of rules at once, its preview, switches at a
time, and the pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from huifang.accounts.roles import Role
from huifang.core.clock import DatabaseClock
from huifang.engine.lifecycle import InFlight, archive, pause
from huifang.engine.models import DueStep, Enrollment
from huifang.messaging.models import Message
from huifang.rules.models import Rule, RuleChange, ScheduledSwitch, StrategySet
from huifang.studio.sets import (
    END_REASON,
    SetError,
    cancel_switch,
    preview_switch,
    run_due_switches,
    schedule_switch,
    switch_to,
)
from huifang.studio.simulate import simulate
from tests.conftest import make_staff
from tests.engine.world import World, local

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]

DAILY = {
    "key": "daily-thanks",
    "name": "日常感谢",
    "trigger": {"kind": "event", "event": "purchase", "delay": {"hours": 1}},
    "steps": [{"id": "thanks", "send": {"channel": "sms", "template": "thanks"}}],
}
PROMO = {
    "key": "promo-618",
    "name": "618 大促回访",
    "trigger": {"kind": "event", "event": "purchase", "delay": {"hours": 1}},
    "steps": [
        {"id": "coupon", "send": {"channel": "email", "template": "coupon-618"}},
        {"id": "call", "task": {"title": "回访 {{客户姓名}}"}},
    ],
}
SURVEY = {
    "key": "ticket-survey",
    "name": "工单满意度",
    "trigger": {"kind": "event", "event": "ticket_closed", "delay": {"hours": 2}},
    "steps": [{"id": "survey", "send": {"channel": "sms", "template": "csat"}}],
}
START = "2026-06-08 00:00"  # a Monday, no holiday near


@pytest.fixture
def world() -> World:
    return World(local("2026-06-01 09:00"))


@pytest.fixture
def rules(world: World) -> dict[str, Rule]:
    """日常感谢 and 工单满意度 run; 618 大促回访 is a draft."""
    return {
        "daily": world.rule(DAILY),
        "survey": world.rule(SURVEY),
        "promo": world.rule(PROMO, active=False),
    }


@pytest.fixture
def promo_set(rules: dict[str, Rule], carol: Any) -> StrategySet:
    strategy_set = StrategySet.objects.create(key="double-618", name="618 大促", created_by=carol)
    strategy_set.rules.set([rules["promo"], rules["survey"]])
    return strategy_set


@pytest.fixture
def daily_set(rules: dict[str, Rule]) -> StrategySet:
    strategy_set = StrategySet.objects.create(key="daily", name="日常", is_active=True)
    strategy_set.rules.set([rules["daily"], rules["survey"]])
    return strategy_set


def statuses() -> dict[str, str]:
    return dict(Rule.objects.values_list("key", "status"))


def a_purchase(world: World) -> Any:
    customer = world.customer("王小明")
    world.event(customer, "purchase", at=local("2026-06-08 10:00"), amount=800)
    return customer


# Switching -----------------------------------------------------------------------------------


def test_it_runs_the_rules_of_the_set_and_pauses_the_others(
    promo_set: StrategySet, daily_set: StrategySet, rules: dict[str, Rule], carol: Any
) -> None:
    done = switch_to(promo_set, actor=carol, comment="大促开始", in_flight=InFlight.KEEP)

    assert statuses() == {
        "daily-thanks": "paused",
        "promo-618": "active",
        "ticket-survey": "active",
    }
    assert (done.started, done.stopped) == (["promo-618"], ["daily-thanks"])
    promo = Rule.objects.get(key="promo-618")
    assert promo.current_version == promo.latest_version()
    switched = RuleChange.objects.get(rule=promo, action=RuleChange.Action.SWITCHED)
    assert (switched.actor, switched.comment) == (carol, "618 大促: 大促开始")
    assert switched.version == promo.current_version and switched.in_flight == "keep"
    paused = RuleChange.objects.get(rule=rules["daily"], action=RuleChange.Action.PAUSED)
    assert (paused.actor, paused.comment) == (carol, "618 大促: 大促开始")
    # A rule that was already running is left alone: no line in its history.
    assert not RuleChange.objects.filter(
        rule=rules["survey"], action__in=["switched", "paused", "resumed"]
    ).exists()
    promo_set.refresh_from_db()
    daily_set.refresh_from_db()
    assert promo_set.is_active and promo_set.activated_at and not daily_set.is_active


def test_switching_back_resumes_the_paused_rules(
    promo_set: StrategySet, daily_set: StrategySet, rules: dict[str, Rule], carol: Any
) -> None:
    switch_to(promo_set, actor=carol, comment="大促开始")
    switch_to(daily_set, actor=carol, comment="大促结束")

    assert statuses() == {
        "daily-thanks": "active",
        "promo-618": "paused",
        "ticket-survey": "active",
    }
    resumed = RuleChange.objects.get(rule=rules["daily"], action=RuleChange.Action.RESUMED)
    assert resumed.comment == "日常: 大促结束"
    assert StrategySet.objects.get(is_active=True) == daily_set


def test_archived_rules_stay_retired_and_an_empty_set_pauses_everything(
    promo_set: StrategySet, rules: dict[str, Rule], alice: Any
) -> None:
    archive([rules["survey"]])
    done = switch_to(promo_set, actor=alice, comment="大促")
    assert done.skipped == ["ticket-survey"]
    assert statuses()["ticket-survey"] == "archived"

    quiet = StrategySet.objects.create(key="quiet", name="疫情期间")
    switch_to(quiet, actor=alice, comment="暂停一切")
    assert set(statuses().values()) == {"paused", "archived"}


def test_customers_part_way_through_a_rule_that_stops_wait_or_end(
    world: World, promo_set: StrategySet, daily_set: StrategySet, alice: Any
) -> None:
    a_purchase(world)
    plan = Enrollment.objects.get(rule__key="daily-thanks")
    switch_to(promo_set, actor=alice, comment="大促开始", in_flight=InFlight.KEEP)
    assert DueStep.objects.get(enrollment=plan).status == DueStep.Status.PAUSED
    plan.refresh_from_db()
    assert plan.status == Enrollment.Status.ACTIVE

    switch_to(daily_set, actor=alice, comment="回到日常")
    assert DueStep.objects.get(enrollment=plan).status == DueStep.Status.DUE
    done = switch_to(promo_set, actor=alice, comment="大促开始", in_flight=InFlight.END)
    plan.refresh_from_db()
    assert (plan.status, plan.end_reason) == (Enrollment.Status.ENDED, END_REASON)
    assert DueStep.objects.get(enrollment=plan).status == DueStep.Status.CANCELLED
    assert done.plans_changed == 1


def test_a_switch_changes_which_rules_run_as_the_simulation_shows(
    world: World, promo_set: StrategySet, alice: Any
) -> None:
    a_purchase(world)
    start = local(START)
    before = simulate(start, 3)
    assert before["rules"] == ["daily-thanks", "ticket-survey"]
    assert [(s["channel"], s["template"]) for s in before["sends"]] == [("sms", "thanks")]
    assert before["totals"]["tasks"] == 0
    predicted = preview_switch(promo_set, days=3, start=start)

    switch_to(promo_set, actor=alice, comment="大促开始")

    after = simulate(start, 3)
    assert after["rules"] == ["promo-618", "ticket-survey"]
    assert [(s["channel"], s["template"]) for s in after["sends"]] == [("email", "coupon-618")]
    assert after["totals"]["tasks"] == 1
    # The preview said so beforehand.
    assert predicted.proposed["totals"] == after["totals"]
    assert predicted.current["totals"] == before["totals"]


# Preview --------------------------------------------------------------------------------------


def test_a_preview_compares_day_by_day_and_changes_nothing(
    world: World, promo_set: StrategySet, daily_set: StrategySet
) -> None:
    a_purchase(world)

    def state() -> tuple[Any, ...]:
        return (
            statuses(),
            list(StrategySet.objects.values_list("key", "is_active")),
            RuleChange.objects.count(),
            list(Enrollment.objects.values_list("pk", "status")),
            list(DueStep.objects.values_list("pk", "status")),
            Message.objects.count(),
        )

    before = state()
    preview = preview_switch(promo_set, days=3, start=local(START))
    assert state() == before

    assert [r.key for r in preview.plan.start] == ["promo-618"]
    assert [r.key for r in preview.plan.stop] == ["daily-thanks"]
    assert [code for code, _label in preview.channels] == ["email", "sms"]
    assert [row.label for row in preview.rows] == ["2026-06-08", "2026-06-09", "2026-06-10"]
    monday = preview.rows[0]
    assert [(c.now, c.after) for c in monday.messages] == [(0, 1), (1, 0)]
    assert (monday.tasks.now, monday.tasks.after) == (0, 1)
    assert preview.totals.tasks.delta == 1 and preview.plans_stopping == 1


def test_a_preview_runs_a_paused_rule_of_the_set(
    world: World, promo_set: StrategySet, rules: dict[str, Rule], alice: Any
) -> None:
    a_purchase(world)
    switch_to(promo_set, actor=alice, comment="大促开始")
    pause([Rule.objects.get(key="promo-618")])
    daily = StrategySet.objects.create(key="back", name="回到日常")
    daily.rules.set([rules["daily"]])
    switch_to(daily, actor=alice, comment="回到日常")
    assert statuses()["promo-618"] == "paused"

    preview = preview_switch(promo_set, days=3, start=local(START))
    assert preview.proposed["rules"] == ["promo-618", "ticket-survey"]
    assert [s["template"] for s in preview.proposed["sends"]] == ["coupon-618"]
    assert statuses()["promo-618"] == "paused"


# Scheduled switches ----------------------------------------------------------------------------


def test_a_scheduled_switch_runs_once_at_its_time_and_not_before(
    promo_set: StrategySet, carol: Any
) -> None:
    with time_machine.travel(local("2026-06-10 09:00"), tick=False) as clock:
        scheduled = schedule_switch(
            promo_set, at=local("2026-06-18 00:00"), actor=carol, comment="618 零点"
        )
        assert scheduled.at == datetime(2026, 6, 17, 16, 0, tzinfo=UTC)

        clock.move_to(local("2026-06-17 23:59:59"))
        assert run_due_switches() == []
        assert statuses()["promo-618"] == "draft"

        clock.move_to(local("2026-06-18 00:00:30"))
        assert run_due_switches() == [scheduled]
        scheduled.refresh_from_db()
        assert scheduled.status == ScheduledSwitch.Status.DONE
        assert scheduled.done_at == local("2026-06-18 00:00:30")
        assert statuses() == {
            "daily-thanks": "paused",
            "promo-618": "active",
            "ticket-survey": "active",
        }
        change = RuleChange.objects.get(rule__key="promo-618", action="switched")
        assert (change.actor, change.comment) == (carol, "618 大促: 618 零点")

        history = RuleChange.objects.count()
        assert run_due_switches() == []
        clock.move_to(local("2026-06-18 00:05"))
        assert run_due_switches() == []
        assert RuleChange.objects.count() == history


def test_after_downtime_only_the_latest_due_switch_runs(
    promo_set: StrategySet, daily_set: StrategySet, alice: Any
) -> None:
    with time_machine.travel(local("2026-06-10 09:00"), tick=False) as clock:
        first = schedule_switch(promo_set, at=local("2026-06-18 00:00"), comment="618")
        back = schedule_switch(daily_set, at=local("2026-06-19 00:00"), comment="618 结束")
        clock.move_to(local("2026-06-20 08:00"))
        assert run_due_switches() == [first, back]
    first.refresh_from_db()
    back.refresh_from_db()
    assert (first.status, first.superseded_by) == (ScheduledSwitch.Status.CANCELLED, back)
    assert back.status == ScheduledSwitch.Status.DONE
    assert statuses()["promo-618"] == "draft"
    assert not RuleChange.objects.filter(comment__startswith="618 大促").exists()


def test_a_cancelled_switch_never_runs(promo_set: StrategySet, carol: Any) -> None:
    with time_machine.travel(local("2026-06-10 09:00"), tick=False) as clock:
        scheduled = schedule_switch(promo_set, at=local("2026-06-18 00:00"), comment="618")
        assert cancel_switch(scheduled, actor=carol)
        assert not cancel_switch(scheduled, actor=carol)
        clock.move_to(local("2026-06-18 01:00"))
        assert run_due_switches() == []
    scheduled.refresh_from_db()
    assert (scheduled.status, scheduled.cancelled_by) == (ScheduledSwitch.Status.CANCELLED, carol)
    assert statuses()["promo-618"] == "draft"


def test_a_switch_that_fails_is_marked_and_changes_nothing(promo_set: StrategySet) -> None:
    scheduled = ScheduledSwitch.objects.create(
        strategy_set=promo_set, at=local("2026-06-18 00:00"), in_flight="sideways"
    )
    assert run_due_switches(local("2026-06-18 00:01")) == [scheduled]
    scheduled.refresh_from_db()
    assert scheduled.status == ScheduledSwitch.Status.FAILED
    assert scheduled.error
    assert statuses()["promo-618"] == "draft"
    assert not StrategySet.objects.filter(is_active=True).exists()
    assert run_due_switches(local("2026-06-18 00:02")) == []


def test_the_scheduler_runs_due_switches_every_minute(promo_set: StrategySet) -> None:
    from huey.contrib.djhuey import HUEY

    from huifang.studio.tasks import switch_strategy_sets

    assert "switch_strategy_sets" in {task.name for task in HUEY._registry.periodic_tasks}
    ScheduledSwitch.objects.create(
        strategy_set=promo_set, at=DatabaseClock().now() - timedelta(minutes=1)
    )
    assert switch_strategy_sets.call_local() == 1
    assert switch_strategy_sets.call_local() == 0
    assert statuses()["promo-618"] == "active"


def test_bad_input_is_refused(promo_set: StrategySet) -> None:
    now = local("2026-06-10 09:00")
    with pytest.raises(SetError) as past:
        schedule_switch(promo_set, at=now - timedelta(minutes=1), now=now)
    assert past.value.field == "at"
    with pytest.raises(SetError) as naive:
        schedule_switch(promo_set, at=datetime(2026, 6, 18), now=now)
    assert naive.value.field == "at"
    with pytest.raises(SetError) as policy:
        switch_to(promo_set, in_flight="sideways")
    assert policy.value.field == "in_flight"
    assert statuses()["promo-618"] == "draft" and not ScheduledSwitch.objects.exists()


# Pages ------------------------------------------------------------------------------------------


@pytest.fixture
def carol_client(carol: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(carol)
    return client


def test_a_supervisor_creates_a_set_previews_and_switches(
    carol_client: Client, world: World, rules: dict[str, Rule]
) -> None:
    a_purchase(world)
    form = carol_client.get("/rules/sets/new/")
    assert form.status_code == 200 and "618 大促回访" in form.content.decode()

    created = carol_client.post(
        "/rules/sets/new/",
        {"name": "618 大促", "key": "double-618", "rules": [rules["promo"].pk]},
    )
    assert created.status_code == 302 and created["Location"] == "/rules/sets/double-618/"
    page = carol_client.get("/rules/sets/double-618/").content.decode()
    assert 'id="plan-start"' in page and "日常感谢" in page

    preview = carol_client.get(
        "/rules/sets/double-618/preview/", {"days": "7"}, HTTP_HX_REQUEST="true"
    )
    text = preview.content.decode()
    assert preview.status_code == 200 and 'id="preview-table"' in text
    assert "<html" not in text and text.count("data-day=") in (7, 8)  # partial first day
    assert carol_client.get("/rules/sets/double-618/preview/").status_code == 200

    switched = carol_client.post(
        "/rules/sets/double-618/switch/",
        {"switch-comment": "大促开始", "switch-in_flight": "keep"},
    )
    assert switched.status_code == 302
    assert statuses() == {
        "daily-thanks": "paused",
        "promo-618": "active",
        "ticket-survey": "paused",
    }
    assert StrategySet.objects.get(key="double-618").is_active


def test_a_switch_is_scheduled_in_the_organisation_time_zone_and_cancelled(
    carol_client: Client, promo_set: StrategySet, settings: Any
) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"
    response = carol_client.post(
        "/rules/sets/double-618/schedule/",
        {
            "schedule-at": "2030-06-18T00:00",
            "schedule-comment": "618 零点",
            "schedule-in_flight": "move",
        },
    )
    assert response.status_code == 302
    scheduled = ScheduledSwitch.objects.get()
    assert scheduled.at == datetime(2030, 6, 17, 16, 0, tzinfo=UTC)
    assert scheduled.in_flight == "move"
    listing = carol_client.get("/rules/sets/").content.decode()
    assert "2030-06-18 00:00" in listing and "Asia/Shanghai" in listing

    cancelled = carol_client.post(f"/rules/sets/double-618/switches/{scheduled.pk}/cancel/")
    assert cancelled.status_code == 302
    scheduled.refresh_from_db()
    assert scheduled.status == ScheduledSwitch.Status.CANCELLED


def test_editing_an_active_set_switches_nothing_until_asked(
    carol_client: Client, promo_set: StrategySet, rules: dict[str, Rule], carol: Any
) -> None:
    switch_to(promo_set, actor=carol, comment="大促开始")
    history = RuleChange.objects.count()
    members = [rules["promo"].pk, rules["survey"].pk, rules["daily"].pk]
    response = carol_client.post(
        "/rules/sets/double-618/edit/",
        {"name": "618 大促（加强）", "key": "other", "description": "", "rules": members},
        follow=True,
    )
    assert "switch to it again" in response.content.decode()
    promo_set.refresh_from_db()
    assert (promo_set.key, promo_set.name) == ("double-618", "618 大促（加强）")
    assert promo_set.rules.count() == 3
    assert statuses()["daily-thanks"] == "paused" and RuleChange.objects.count() == history

    switch_to(promo_set, actor=carol, comment="加上日常")
    assert set(statuses().values()) == {"active"}
    again = switch_to(promo_set, actor=carol, comment="再切一次")
    assert (again.started, again.stopped) == ([], [])


@pytest.mark.parametrize(
    ("path", "data", "error_id", "words"),
    [
        ("/rules/sets/new/", {"name": "大促", "key": "Double 11"}, "error-key", "lowercase"),
        ("/rules/sets/new/", {"name": "大促", "key": "new"}, "error-key", "reserved"),
        ("/rules/sets/new/", {"name": "大促", "key": "double-618"}, "error-key", "already exists"),
        ("/rules/sets/new/", {"name": "", "key": "double-11"}, "error-name", "required"),
        (
            "/rules/sets/double-618/switch/",
            {"switch-comment": "", "switch-in_flight": "keep"},
            "error-switch-comment",
            "required",
        ),
        (
            "/rules/sets/double-618/switch/",
            {"switch-comment": "大促", "switch-in_flight": "sideways"},
            "error-switch-in_flight",
            "valid choice",
        ),
        (
            "/rules/sets/double-618/schedule/",
            {"schedule-at": "2020-01-01T00:00", "schedule-comment": "x"},
            "error-schedule-at",
            "in the future",
        ),
        (
            "/rules/sets/double-618/schedule/",
            {"schedule-at": "soon", "schedule-comment": "x", "schedule-in_flight": "keep"},
            "error-schedule-at",
            "valid date/time",
        ),
    ],
)
def test_bad_input_is_explained_next_to_its_field(
    carol_client: Client,
    promo_set: StrategySet,
    path: str,
    data: dict[str, str],
    error_id: str,
    words: str,
) -> None:
    before = (statuses(), StrategySet.objects.count(), ScheduledSwitch.objects.count())
    response = carol_client.post(path, data)
    assert response.status_code == 400
    text = response.content.decode()
    error = text[text.index(f'id="{error_id}"') :].split("</div>")[0]
    assert words in error
    assert (statuses(), StrategySet.objects.count(), ScheduledSwitch.objects.count()) == before


def test_a_bad_preview_length_is_explained(carol_client: Client, promo_set: StrategySet) -> None:
    response = carol_client.get("/rules/sets/double-618/preview/", {"days": "5"})
    assert response.status_code == 400 and 'id="error-days"' in response.content.decode()


def test_agents_get_403_and_analysts_only_read(
    bob_client: Client, promo_set: StrategySet, rules: dict[str, Rule]
) -> None:
    scheduled = ScheduledSwitch.objects.create(strategy_set=promo_set, at=local("2030-06-18 00:00"))
    paths = [
        "/rules/sets/",
        "/rules/sets/new/",
        "/rules/sets/double-618/",
        "/rules/sets/double-618/edit/",
        "/rules/sets/double-618/preview/",
    ]
    posts = [
        "/rules/sets/double-618/switch/",
        "/rules/sets/double-618/schedule/",
        f"/rules/sets/double-618/switches/{scheduled.pk}/cancel/",
    ]
    for path in paths:
        assert bob_client.get(path).status_code == 403, path
    for path in posts:
        assert bob_client.post(path, {"switch-comment": "x"}).status_code == 403, path

    analyst = Client()
    analyst.force_login(make_staff("dave", Role.ANALYST))
    assert analyst.get("/rules/sets/").status_code == 200
    page = analyst.get("/rules/sets/double-618/")
    assert page.status_code == 200 and 'id="switch-form"' not in page.content.decode()
    for path in ["/rules/sets/new/", "/rules/sets/double-618/preview/"]:
        assert analyst.get(path).status_code == 403, path
    for path in posts:
        assert analyst.post(path, {"switch-comment": "x"}).status_code == 403, path

    assert statuses()["promo-618"] == "draft"
    assert ScheduledSwitch.objects.get().status == ScheduledSwitch.Status.PENDING
    assert not StrategySet.objects.filter(is_active=True).exists()
