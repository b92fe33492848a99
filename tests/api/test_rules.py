"""The rules API: list and read rules, activate the latest version, pause, resume, and
simulate what it would do — with the rule pages' checks, each change in the rule's history
and the audit log under the token's name."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.test import Client

from huifang.audit.models import Entry
from huifang.customers.models import Customer
from huifang.rules.models import Rule, RuleChange
from huifang.studio import api as rules_api
from tests.api.helpers import error_of, post, walk
from tests.engine.world import World, local

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]

WELCOME = {
    "key": "welcome",
    "name": "购买欢迎",
    "trigger": {"kind": "event", "event": "purchase"},
    "steps": [{"id": "hello", "send": {"channel": "sms", "template": "welcome"}}],
}


@pytest.fixture
def world() -> World:
    return World(local("2026-10-30 09:00"))


@pytest.fixture
def frozen() -> Any:
    with time_machine.travel(local("2026-11-02 09:00"), tick=False) as traveller:
        yield traveller


def test_rules_are_listed_and_read(reader: Client, world: World) -> None:
    world.rule(WELCOME)
    world.rule({**WELCOME, "key": "draft", "name": "草稿"}, active=False)
    listed = reader.get("/api/v1/rules").json()
    assert [(r["key"], r["status"], r["version"]) for r in listed["items"]] == [
        ("draft", "draft", None),
        ("welcome", "active", 1),
    ]
    assert [
        r["key"] for r in reader.get("/api/v1/rules", {"status": "active"}).json()["items"]
    ] == ["welcome"]
    assert [r["key"] for r in walk(reader, "/api/v1/rules", 1)] == ["draft", "welcome"]
    one = reader.get("/api/v1/rules/welcome").json()
    assert one["document"]["steps"][0]["id"] == "hello"
    assert error_of(reader.get("/api/v1/rules/nope"))["code"] == "unknown_rule"


def test_a_write_token_activates_pauses_and_resumes_a_rule(writer: Client, world: World) -> None:
    rule = world.rule(WELCOME, active=False)
    stale = post(writer, "/api/v1/rules/welcome/activate", {"version": 2, "comment": "上线"})
    assert stale.status_code == 409
    assert error_of(stale)["code"] == "version_changed"
    bare = post(writer, "/api/v1/rules/welcome/activate", {"version": 1, "comment": " "})
    assert bare.status_code == 422

    active = post(writer, "/api/v1/rules/welcome/activate", {"version": 1, "comment": "上线"})
    assert active.status_code == 200, active.content
    assert (active.json()["status"], active.json()["version"]) == ("active", 1)
    again = post(writer, "/api/v1/rules/welcome/activate", {"version": 1, "comment": "再来"})
    assert error_of(again)["code"] == "already_running"

    assert post(writer, "/api/v1/rules/welcome/pause", {"reason": ""}).status_code == 422
    paused = post(writer, "/api/v1/rules/welcome/pause", {"reason": "活动暂停"})
    assert paused.json()["status"] == "paused"
    twice = post(writer, "/api/v1/rules/welcome/pause", {"reason": "活动暂停"})
    assert (twice.status_code, error_of(twice)["code"]) == (409, "wrong_status")
    resumed = post(writer, "/api/v1/rules/welcome/resume", {})
    assert resumed.json()["status"] == "active"

    changes = RuleChange.objects.filter(rule=rule).order_by("pk")
    history = list(changes.values_list("action", "comment"))
    assert history[-3:] == [("activated", "上线"), ("paused", "活动暂停"), ("resumed", "")]
    entries = Entry.objects.filter(
        action=Entry.Action.RULE, verb__in=["activated", "paused", "resumed"]
    )
    assert entries.count() == 3
    assert all(e.actor.startswith("API token write system") for e in entries)


def test_a_read_token_may_simulate_but_not_change(reader: Client, world: World) -> None:
    world.rule(WELCOME)
    refused = post(reader, "/api/v1/rules/welcome/pause", {"reason": "x"})
    assert (refused.status_code, error_of(refused)["code"]) == (403, "forbidden")
    assert Rule.objects.get().status == "active"


def test_a_simulation_reports_what_the_rule_would_do_and_changes_nothing(
    reader: Client, world: World, frozen: Any
) -> None:
    world.rule(WELCOME, active=False)
    for name in ("王小明", "李雷"):
        world.event(world.customer(name), "purchase", at=local("2026-11-02 10:00"), amount=300)
    before = (Customer.objects.count(), RuleChange.objects.count())
    response = post(reader, "/api/v1/rules/welcome/simulate", {"days": 3})
    assert response.status_code == 200, response.content
    report = response.json()["report"]
    assert report["totals"]["messages"] >= 1
    assert (Customer.objects.count(), RuleChange.objects.count()) == before
    assert Rule.objects.get().status == "draft"


def test_a_simulation_is_bounded(
    reader: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.rule(WELCOME, active=False)
    assert post(reader, "/api/v1/rules/welcome/simulate", {"days": 31}).status_code == 422
    world.customer("王小明")
    world.customer("李雷")
    monkeypatch.setattr(rules_api, "SIMULATE_MAX_CUSTOMERS", 1)
    response = post(reader, "/api/v1/rules/welcome/simulate", {"days": 1})
    assert (response.status_code, error_of(response)["code"]) == (422, "simulation_too_large")
