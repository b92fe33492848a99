"""The simulation report's view of people: tasks per team against capacity, customers over a cap,
and holds and drops per reason over the period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, time
from typing import Any

import pytest

from huifang.accounts.models import StaffProfile, Team
from huifang.accounts.roles import Role
from huifang.organisation.services import forget, save_settings
from huifang.studio.simulate import simulate
from tests.conftest import make_staff

from .world import World, local

pytestmark = pytest.mark.django_db

START = "2026-11-02 00:00"  # a Monday


def purchase_rule(key: str, *steps: dict[str, Any], **policy: Any) -> dict[str, Any]:
    return {
        "key": key,
        "name": key,
        "trigger": {"kind": "event", "event": "purchase"},
        "policy": {"quiet_hours": {"start": "21:00", "end": "08:00"}, **policy},
        "steps": list(steps),
    }


def test_tasks_per_team_per_day_against_the_agents_capacity() -> None:
    world = World(local("2026-10-30 09:00"))
    team = Team.objects.create(key="calls", name="电话组")
    make_staff("dan", Role.AGENT, team=team)
    make_staff("eve", Role.AGENT, team=team)
    make_staff("sue", Role.SUPERVISOR, team=team)  # not an agent: takes no tasks
    StaffProfile.objects.filter(user__username="dan").update(daily_capacity=2)
    StaffProfile.objects.filter(user__username="eve").update(
        daily_capacity=1, on_leave=True, leave_until=date(2026, 11, 2)
    )
    world.rule(
        purchase_rule(
            "call-after-purchase",
            {
                "id": "call",
                "task": {"title": "回访", "assign": {"strategy": "least_loaded", "team": "calls"}},
            },
        )
    )
    world.rule(purchase_rule("own-team", {"id": "call", "task": {"title": "回访"}}))
    for n in range(3):
        world.event(
            world.customer(f"客户{n}"), "purchase", at=local("2026-11-02 10:00"), amount=100
        )
    world.event(world.customer("客户9"), "purchase", at=local("2026-11-03 10:00"), amount=100)

    report = simulate(local(START), 3)

    calls, unassigned = report["teams"]
    assert (calls["key"], calls["name"], calls["total"]) == ("calls", "电话组", 4)
    # eve is on leave on the 2nd and back on the 3rd; sue is a supervisor.
    assert [(d["date"], d["tasks"], d["capacity"], d["over"]) for d in calls["days"]] == [
        ("2026-11-02", 3, 2, True),
        ("2026-11-03", 1, 3, False),
        ("2026-11-04", 0, 3, False),
    ]
    assert calls["over"] == ["2026-11-02"]
    # Customers without an owner's team: their tasks have no team and no capacity.
    assert (unassigned["key"], unassigned["total"], unassigned["over"]) == ("", 4, [])
    assert unassigned["days"][0] == {
        "date": "2026-11-02",
        "tasks": 3,
        "capacity": None,
        "over": False,
    }


@pytest.fixture
def organisation_caps() -> Iterator[None]:
    """The organisation's defaults: at most 3 messages in 30 days for rules that set no cap."""
    save_settings(
        quiet_start=time(21),
        quiet_end=time(8),
        working_days=[1, 2, 3, 4, 5],
        working_start=time(9),
        working_end=time(18),
        caps=[("any", 3, 30)],
        sms_signature="",
        actor=None,
    )
    yield
    forget()  # the kept answer would outlive the test's rolled-back row


def test_customers_over_the_tightest_cap_of_any_running_rule(organisation_caps: None) -> None:
    world = World(local("2026-10-30 09:00"))
    world.rule(
        purchase_rule(
            "thank-you",
            {"id": "thanks", "send": {"channel": "sms", "template": "thanks"}},
            caps=[{"channel": "any", "max": 1, "per_days": 7}],
        )
    )
    # No cap of its own: the organisation's default lets both through, and the report judges
    # the customer by the other rule's tighter cap too.
    world.rule(
        purchase_rule(
            "tips",
            {"id": "one", "send": {"channel": "sms", "template": "tip-1"}, "wait": {"days": 1}},
            {"id": "two", "send": {"channel": "email", "template": "tip-2"}},
        )
    )
    busy = world.customer("忙碌客户")
    quiet = world.customer("安静客户", consent=())  # nothing is sent to them
    world.event(busy, "purchase", at=local("2026-11-02 10:00"), amount=100)
    world.event(quiet, "purchase", at=local("2026-11-02 10:00"), amount=100)

    report = simulate(local(START), 5)

    assert report["caps"] == [
        {"channel": "any", "max": 3, "per_days": 30, "rules": ["tips"], "default": True},
        {"channel": "any", "max": 1, "per_days": 7, "rules": ["thank-you"], "default": False},
    ]
    assert report["over_cap"] == {
        "count": 1,
        "customers": [
            {
                "id": busy.pk,
                "name": "忙碌客户",
                "count": 3,
                "cap": {"channel": "any", "max": 1, "per_days": 7},
            }
        ],
    }
    assert report["reasons"]["drops"] == {"no_consent": 3}
    assert report["totals"]["messages"] == 3


def test_messages_before_the_start_count_towards_the_window() -> None:
    world = World(local("2026-10-20 09:00"))
    rule = purchase_rule(
        "monthly-cap",
        {"id": "hi", "send": {"channel": "sms", "template": "hi"}},
        caps=[{"channel": "sms", "max": 1, "per_days": 30}],
        on_cap="drop",
    )
    world.rule(rule)
    customer = world.customer()
    world.event(customer, "purchase", amount=100)
    world.run()
    assert len(world.sent(customer)) == 1
    world.rule({**rule, "key": "uncapped", "policy": {}})
    world.event(customer, "purchase", at=local("2026-11-02 10:00"), amount=100)

    report = simulate(local(START), 2)

    assert [cap["rules"] for cap in report["caps"]] == [["monthly-cap"]]
    # The capped rule's own message is dropped by the gate; the other one goes, and with
    # October's it makes two in 30 days. Without organisation defaults it has no cap.
    assert report["reasons"]["drops"] == {"cap": 1}
    (over,) = report["over_cap"]["customers"]
    assert (over["id"], over["count"], over["cap"]["max"]) == (customer.pk, 2, 1)
