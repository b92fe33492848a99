"""``huifang simulate``: the real engine over a virtual fortnight, leaving the data untouched."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from huifang.customers.models import Event
from huifang.engine.models import DueStep, Enrollment
from huifang.messaging.models import Message
from huifang.tasks.models import Task

from .world import World, local

pytestmark = pytest.mark.django_db

RULE = {
    "key": "ticket-survey",
    "name": "工单关闭满意度",
    "trigger": {"kind": "event", "event": "ticket_closed", "delay": {"hours": 24}},
    "policy": {"quiet_hours": {"start": "21:00", "end": "08:00"}, "days": "business"},
    "steps": [
        {"id": "survey", "send": {"channel": "sms", "template": "csat"}, "wait": {"days": 1}},
        {"id": "call", "task": {"title": "回访 {{客户姓名}}"}},
    ],
}


def simulate(*args: str) -> dict:
    out = StringIO()
    call_command("simulate", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_events_in_the_window_arrive_on_the_virtual_clock() -> None:
    world = World(local("2026-09-20 12:00"))
    world.rule(RULE)
    shanghai = world.customer("上海客户")
    new_york = world.customer("纽约客户", zone="America/New_York")
    # Already stored, but inside the window: they arrive again when the virtual clock gets there.
    world.event(shanghai, "ticket_closed", at=local("2026-09-29 22:30"))
    world.event(new_york, "ticket_closed", at=local("2026-09-29 10:00"))
    before = (Event.objects.count(), Enrollment.objects.count(), DueStep.objects.count())

    report = simulate("--start", "2026-09-28T00:00+08:00", "--days", "14")

    assert report["rules"] == ["ticket-survey"]
    assert [day["date"] for day in report["days"]][:2] == ["2026-09-28", "2026-09-29"]
    assert len(report["days"]) == 14
    sends = {s["customer"]["name"]: s for s in report["sends"]}
    # Due 30 Sept 22:30: quiet hours, then National Day (1–7 Oct): the 8th, 08:00.
    assert sends["上海客户"]["at"] == "2026-10-08T08:00+08:00"
    # Due 29 Sept 22:00 New York time: quiet hours there too, so 08:00 the next morning
    # (a working day in the calendar, although Shanghai is then on holiday the next day).
    assert sends["纽约客户"]["at"] == "2026-09-30T08:00-04:00"
    (held,) = [d for d in report["deferrals"] if d["customer"]["name"] == "上海客户"]
    assert held["at"] == "2026-09-30T22:30+08:00"
    assert (held["reason"], held["until"]) == ("day_off", "2026-10-08T08:00+08:00")
    assert report["totals"]["enrollments"] == 2
    assert report["totals"]["tasks"] == 2
    # Nothing was kept.
    assert (Event.objects.count(), Enrollment.objects.count(), DueStep.objects.count()) == before
    assert not Message.objects.exists() and not Task.objects.exists()


def test_a_rule_file_can_be_tried_before_it_exists(tmp_path: Path) -> None:
    world = World(local("2026-11-02 09:00"))
    customer = world.customer()
    world.event(customer, "ticket_closed", at=local("2026-11-03 09:00"))
    path = tmp_path / "rule.json"
    path.write_text(json.dumps(RULE, ensure_ascii=False), encoding="utf-8")
    report = simulate("--start", "2026-11-03T00:00+08:00", "--days", "3", "--file", str(path))
    assert [s["at"] for s in report["sends"]] == ["2026-11-04T09:00+08:00"]
    assert not Enrollment.objects.exists()
    from huifang.rules.models import Rule

    assert not Rule.objects.filter(key="ticket-survey").exists()


def test_bad_input_is_explained() -> None:
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("simulate", "--start", "next monday")
    with pytest.raises(CommandError, match="no rule"):
        call_command("simulate", "--start", "2026-11-03T00:00+08:00", "--rules", "nope")
    with pytest.raises(CommandError, match="days"):
        call_command("simulate", "--start", "2026-11-03T00:00+08:00", "--days", "0")
