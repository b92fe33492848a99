"""The rule document of issue 3 imports as written; bad documents are refused by place."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.utils import translation

from huifang.rules.document import RuleError, dump_rule, load_rule_text, load_yaml, parse_rule

pytestmark = pytest.mark.django_db  # custom event types live in the database

EXAMPLE = """
key: retail-after-purchase
name: 购买后回访
trigger:
  kind: event            # event | date | segment | recurring
  event: purchase
  where: {all: [{field: properties.amount, op: gte, value: 500}]}
  delay: {days: 3}
audience:
  all:
    - {field: tier, op: in, value: [vip, regular]}
policy:
  quiet_hours: {start: "21:00", end: "08:00"}
  days: business         # any | business
  caps: [{channel: any, max: 3, per_days: 30}]
  on_cap: defer          # defer | drop
  misfire_grace: {hours: 12}
  reenroll_after: {days: 30}
steps:
  - id: first
    send: {channel: sms, template: purchase-3d}
    wait_reply: {days: 3}
    on_reply: stop
  - id: second
    send: {channel: sms, template: purchase-3d-again}
    wait_reply: {days: 7}
    on_reply: stop
  - id: manual
    task: {title: "电话回访 {{客户姓名}}", sla: {hours: 72}, assign: {strategy: owner}, priority: high}
exit:
  on: [message_replied, unsubscribed, purchase]
"""


def test_the_issue_example_imports_as_written_and_round_trips() -> None:
    rule = load_rule_text(EXAMPLE)
    assert rule.key == "retail-after-purchase"
    assert [step.id for step in rule.steps] == ["first", "second", "manual"]
    assert rule.steps[2].task is not None and rule.steps[2].task.title == "电话回访 {{客户姓名}}"
    assert dump_rule(rule) == load_yaml(EXAMPLE)


@pytest.mark.parametrize(
    "trigger",
    [
        {
            "kind": "date",
            "event": "contract_ends",
            "property": "ends_on",
            "offset": {"days": 90},
            "before": True,
        },
        {"kind": "date", "field": "birthday", "at": "09:30"},
        {
            "kind": "segment",
            "where": {"field": "last_contact_at", "op": "before_days", "value": 90},
        },
        {
            "kind": "recurring",
            "every": {"months": 1},
            "where": {"field": "tier", "op": "eq", "value": "vip"},
        },
    ],
)
def test_each_trigger_kind_is_understood(trigger: dict[str, Any]) -> None:
    data = load_yaml(EXAMPLE)
    data["trigger"] = trigger
    assert parse_rule(data).trigger.kind == trigger["kind"]


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(load_yaml(EXAMPLE))
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["key"], "Not A Key", "key"),
        (["trigger", "kind"], "weekly", "trigger"),
        (["trigger", "event"], "teleported", "trigger.event"),
        (["trigger", "delay"], {"days": 3, "hours": 2}, "trigger.event.delay"),
        (
            ["trigger", "where"],
            {"all": [{"field": "properties.amount", "op": "before_days", "value": 3}]},
            "trigger.where.all.0.op",
        ),
        (
            ["audience"],
            {"all": [{"field": "shoe_size", "op": "eq", "value": 1}]},
            "audience.all.0.field",
        ),
        (["policy", "caps", 0, "channel"], "pigeon", "policy.caps.0.channel"),
        (["policy", "on_cap"], "explode", "policy.on_cap"),
        (["steps", 1, "id"], "first", "steps.1.id"),
        (["steps", 0, "on_reply"], "nowhere", "steps.0.on_reply"),
        (["steps", 0, "send"], {"channel": "fax", "template": "t"}, "steps.0.send"),
        (["exit", "on"], ["message_replied", "vanished"], "exit.on.1"),
    ],
)
def test_a_bad_document_is_refused_naming_the_field(
    path: list[Any], value: Any, field: str
) -> None:
    with translation.override("en"), pytest.raises(RuleError) as caught:
        parse_rule(_broken(path, value))
    assert caught.value.field.startswith(field), caught.value
    assert caught.value.message


def test_text_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(RuleError):
        load_rule_text("key: [unclosed")


def test_yes_no_and_on_stay_words() -> None:
    assert load_yaml("on: [yes, no, off]\nflag: true") == {"on": ["yes", "no", "off"], "flag": True}
