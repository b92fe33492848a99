"""Condition fields and operators come from an allow-list (issue 17): a field such as
``attributes.x__regex`` once passed validation and ran a pattern the API can set (ReDoS)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from huifang.customers.models import Customer
from huifang.engine.lifecycle import activate
from huifang.engine.models import Enrollment
from huifang.engine.triggers import evaluate_all
from huifang.rules.conditions import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    ConditionError,
    compile_condition,
    safe_key,
)
from huifang.rules.document import RuleDocument, RuleError, parse_rule
from huifang.rules.models import Rule, RuleChange
from huifang.rules.services import save_rule
from huifang.studio.audience import live_audience

pytestmark = pytest.mark.django_db

UNSAFE_KEYS = [
    "x__regex",  # a lookup of its own: the ReDoS of the issue
    "x__iregex",
    "regex",  # a lookup name as the key: applied to the whole JSON field
    "contains",
    "has_key",
    "isnull",
    "_x",
    "x_",
    "-x",
    "a b",
    "a.b",
    "x" * 65,
    "",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_it_refuses_an_attribute_key_that_is_not_a_plain_name(key: str) -> None:
    with pytest.raises(ConditionError) as refused:
        compile_condition({"field": f"attributes.{key}", "op": "eq", "value": "a+"})
    assert refused.value.path == "field"
    with pytest.raises(ConditionError):
        compile_condition({"field": f"properties.{key}", "op": "eq", "value": "a+"}, events=True)


@pytest.mark.parametrize("key", ["plan", "contract_ends_on", "会员等级", "sku-2", "a", "x1"])
def test_it_accepts_plain_keys(key: str) -> None:
    assert safe_key(key)
    compile_condition({"field": f"attributes.{key}", "op": "eq", "value": "企业版"})


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "name__regex", "op": "eq", "value": "(a+)+$"},
        {"field": "owner__password", "op": "eq", "value": "x"},
        {"field": "tier", "op": "regex", "value": "vip"},
        {"field": "name", "op": "iregex", "value": "(a+)+$"},
        {"field": "attributes.plan", "op": "regex", "value": "(a+)+$"},
    ],
)
def test_fields_and_operators_come_from_the_allow_list(condition: dict[str, Any]) -> None:
    with pytest.raises(ConditionError):
        compile_condition(condition)


def test_the_refusal_is_translated() -> None:
    condition = {"field": "attributes.x__regex", "op": "eq", "value": "(a+)+$"}
    with translation.override("en"), pytest.raises(ConditionError) as en:
        compile_condition(condition)
    with translation.override("zh-hans"), pytest.raises(ConditionError) as zh:
        compile_condition(condition)
    assert "is not a field you can filter on" in en.value.message
    assert "is not a field you can filter on" not in zh.value.message


def test_the_tree_is_bounded() -> None:
    leaf = {"field": "tier", "op": "eq", "value": "vip"}
    deep: dict[str, Any] = leaf
    for _level in range(MAX_DEPTH + 1):
        deep = {"all": [deep]}
    with pytest.raises(ConditionError, match=f"{MAX_DEPTH}"):
        compile_condition(deep)
    # A thousand levels: refused, not a RecursionError.
    for _level in range(1000):
        deep = {"any": [deep]}
    with pytest.raises(ConditionError):
        compile_condition(deep)
    with pytest.raises(ConditionError, match=str(MAX_CONDITIONS)):
        compile_condition({"all": [leaf] * (MAX_CONDITIONS + 1)})
    with pytest.raises(ConditionError):
        compile_condition({"field": "city", "op": "in", "value": ["x"] * 1001})
    with pytest.raises(ConditionError):
        compile_condition({"field": "last_contact_at", "op": "within_last_days", "value": 10**9})
    with pytest.raises(ConditionError):
        compile_condition({"field": "spend_12m", "op": "gt", "value": "1e999"})
    with pytest.raises(ConditionError):
        compile_condition({"field": "birthday", "op": "eq", "value": "0001-01-01"})
    with pytest.raises(ConditionError):
        compile_condition({"field": "created_at", "op": "lt", "value": "9999-12-31"})


RULE: dict[str, Any] = {
    "key": "after-purchase",
    "name": "购买后回访",
    "trigger": {"kind": "event", "event": "purchase"},
    "steps": [{"id": "call", "task": {"title": "回访"}}],
}


def test_the_rule_document_refuses_them_by_place() -> None:
    bad = {"field": "attributes.x__regex", "op": "eq", "value": "(a+)+$"}
    with pytest.raises(RuleError) as audience:
        parse_rule({**RULE, "audience": bad})
    assert audience.value.field == "audience.field"
    with pytest.raises(RuleError) as where:
        parse_rule({**RULE, "trigger": {**RULE["trigger"], "where": {"all": [bad]}}})
    assert where.value.field == "trigger.where.all.0.field"
    date_rule = {**RULE, "trigger": {"kind": "date", "field": "attributes.x__regex"}}
    with pytest.raises(RuleError) as field:
        parse_rule(date_rule)
    assert field.value.field == "trigger.field"
    with pytest.raises(RuleError) as prop:
        parse_rule(
            {**RULE, "trigger": {"kind": "date", "event": "purchase", "property": "a__regex"}}
        )
    assert prop.value.field == "trigger.property"


def test_the_builder_refuses_to_save_one(alice_client: Client) -> None:
    alice_client.post(reverse("rules:new"), {"name": "测试", "key": "redos"})
    pairs = {
        "name": "测试",
        "trigger.kind": "segment",
        "trigger.where.join": "all",
        "trigger.where.c.0.field": "attributes.",
        "trigger.where.c.0.key": "x__regex",
        "trigger.where.c.0.op": "eq",
        "trigger.where.c.0.value": "(a+)+$",
        "steps.0.kind": "task",
        "steps.0.id": "call",
        "steps.0.task.title": "回访",
        "action": "save",
    }
    response = alice_client.post(
        reverse("rules:edit", kwargs={"key": "redos"}), pairs, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'data-error-for="trigger.where.c.0.field"' in response.content.decode()
    assert Rule.objects.get(key="redos").versions.count() == 0
    # The live audience of that working copy says why, and runs nothing.
    audience = alice_client.get(reverse("rules:audience", kwargs={"key": "redos"}))
    assert audience.status_code == 200


def _stored(document: dict[str, Any]) -> Rule:
    """A version saved before the allow-list: stored as it is, without ``parse_rule``."""
    saved = save_rule(RuleDocument.model_validate(document))
    # Made current as it was then: activating it now is refused (below).
    Rule.objects.filter(pk=saved.rule.pk).update(
        current_version=saved.version, status=Rule.Status.ACTIVE
    )
    saved.rule.refresh_from_db()
    return saved.rule


def test_a_stored_rule_with_a_bad_field_is_never_run(
    post_json: Any, caplog: pytest.LogCaptureFixture
) -> None:
    bad = {"field": "attributes.x__regex", "op": "eq", "value": "(a+)+$"}
    rule = _stored({**RULE, "audience": bad})
    Customer.objects.create(external_id="C1", name="甲", attributes={"x": "a" * 30})
    response = post_json(
        "/api/v1/events",
        {
            "type": "purchase",
            "customer_external_id": "C1",
            "occurred_at": "2026-10-08T09:00:00+08:00",
            "properties": {"amount": 10},
        },
    )
    assert response.status_code == 201, response.content
    assert evaluate_all(rule.created_at) == {}
    assert not Enrollment.objects.filter(rule=rule).exists()
    assert "is not run" in caplog.text
    # Its audience is shown with the problem, not run.
    found = live_audience({**RULE, "audience": bad})
    assert found.count == -1 and "audience.field" in found.errors


def test_a_stored_segment_with_a_lookup_named_key_is_never_run() -> None:
    rule = _stored(
        {
            **RULE,
            "trigger": {
                "kind": "segment",
                "where": {"field": "attributes.regex", "op": "eq", "value": "(a+)+$"},
                "include_existing": True,
            },
        }
    )
    Customer.objects.create(external_id="C1", name="甲", attributes={"regex": "(a+)+$"})
    assert evaluate_all(rule.created_at) == {}
    assert not Enrollment.objects.filter(rule=rule).exists()


def test_activating_a_version_stored_with_a_bad_field_is_refused_and_writes_nothing(
    alice_client: Client,
) -> None:
    bad = {"field": "attributes.x__regex", "op": "eq", "value": "(a+)+$"}
    saved = save_rule(RuleDocument.model_validate({**RULE, "audience": bad}))
    with pytest.raises(RuleError, match="audience"):
        activate(saved.rule, saved.version)
    saved.rule.refresh_from_db()
    assert saved.rule.current_version is None and saved.rule.status != Rule.Status.ACTIVE
    assert not RuleChange.objects.filter(rule=saved.rule, action="activated").exists()
