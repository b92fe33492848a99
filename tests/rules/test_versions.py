"""Versions: a readable comparison, a one-click rollback that is a new audited version, and
the gallery's "use this" that makes a draft copy."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from huifang.engine.lifecycle import activate
from huifang.messaging.models import MessageTemplate
from huifang.rules.document import dump_rule, parse_rule
from huifang.rules.models import Rule, RuleChange
from huifang.rules.services import library_documents, save_rule
from huifang.studio.versions import changes

pytestmark = pytest.mark.django_db


def _two_versions() -> Rule:
    document = {d.key: d for d in library_documents()}["retail-after-purchase"]
    first = save_rule(document, comment="v1")
    activate(first.rule, first.version)
    content = dump_rule(document)
    content["trigger"]["delay"] = {"days": 5}
    content["steps"][0], content["steps"][1] = content["steps"][1], content["steps"][0]
    save_rule(parse_rule(content), comment="v2")
    return first.rule


def test_changes_name_what_changed_by_step_id() -> None:
    before = {"trigger": {"delay": {"days": 3}}, "steps": [{"id": "a", "wait": {"days": 1}}]}
    after = {
        "trigger": {"delay": {"days": 5}},
        "steps": [{"id": "b", "stop": True}, {"id": "a", "wait": {"days": 2}}],
    }
    with translation.override("en"):
        found = {
            c.path: (c.kind, c.label, c.before_text, c.after_text) for c in changes(before, after)
        }
    assert found["trigger.delay.days"] == ("changed", "Start after", "3 days", "5 days")
    assert found["steps[a].wait.days"] == ("changed", "Step 2: wait", "1 day", "2 days")
    assert found["steps[a].position"] == ("changed", "Step 2: position", "1", "2")
    assert found["steps[b].stop"] == ("added", "Step 1: stop", "", "yes")


def test_codes_read_as_words() -> None:
    before = {
        "trigger": {"kind": "event", "event": "purchase"},
        "steps": [
            {"id": "first", "send": {"channel": "sms", "template": "t"}, "on_reply": "continue"},
            {"id": "second", "task": {"title": "回访", "priority": "normal"}},
        ],
    }
    after = {
        "trigger": {"kind": "event", "event": "complaint"},
        "steps": [
            {
                "id": "first",
                "send": {"channels": ["wecom", "sms"], "template": "t"},
                "on_reply": "second",
            },
            {"id": "second", "task": {"title": "回访", "priority": "urgent"}},
        ],
    }
    with translation.override("zh-hans"):
        found = {c.label: (c.before_text, c.after_text) for c in changes(before, after)}
    assert found["触发事件"] == ("购买", "投诉")
    assert found["第 1 步：回复后"] == ("继续下一步", "转到第 2 步")
    assert found["第 2 步：优先级"] == ("普通", "紧急")
    assert ("", "企业微信 → 短信") in found.values()
    assert not any("second" in text for pair in found.values() for text in pair)


def test_compare_page_shows_the_changes(alice_client: Client) -> None:
    rule = _two_versions()
    page = alice_client.get(reverse("rules:compare", kwargs={"key": rule.key}) + "?a=1&b=2")
    html = page.content.decode()
    assert page.status_code == 200
    assert "延迟开始" in html and "3 天" in html and "5 天" in html
    assert "trigger.delay.days" not in html.split('id="changes-table"')[1].split("</table>")[0]


def test_rollback_is_a_new_audited_version(alice_client: Client, alice: Any) -> None:
    rule = _two_versions()
    activate(rule, rule.versions.get(number=2))
    response = alice_client.post(reverse("rules:rollback", kwargs={"key": rule.key, "number": 1}))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.current_version is not None and rule.current_version.number == 3
    assert rule.current_version.content == rule.versions.get(number=1).content
    change = rule.changes.get(action=RuleChange.Action.ROLLED_BACK)
    assert change.actor == alice and change.version == rule.current_version


def test_agents_cannot_roll_back(client: Client, bob: Any) -> None:
    rule = _two_versions()
    client.force_login(bob)
    response = client.post(reverse("rules:rollback", kwargs={"key": rule.key, "number": 1}))
    assert response.status_code == 403
    assert rule.versions.count() == 2


def test_gallery_lists_every_ready_strategy_by_industry(alice_client: Client) -> None:
    html = alice_client.get(reverse("rules:gallery")).content.decode()
    for document in library_documents():
        assert f'data-strategy="{document.key}"' in html
    for industry in ("retail", "saas", "clinic", "beauty", "education", "vip", "dormant"):
        assert f'id="industry-{industry}"' in html
    for industry in ("complaint", "renewal", "ticket"):
        assert f'id="industry-{industry}"' in html


def test_gallery_cards_name_the_channels_in_the_order_the_steps_use_them(
    alice_client: Client,
) -> None:
    from huifang.studio.gallery import channel_labels

    html = alice_client.get(reverse("rules:gallery")).content.decode()
    assert not re.search(r"\b(sms|email|wecom) →", html)  # no channel codes on the cards
    for document in library_documents():
        codes = [
            code
            for step in document.steps
            if step.send
            for code in ([step.send.channel] if step.send.channel else step.send.channels or [])
        ]
        labels = channel_labels(document)
        assert len(labels) == len(dict.fromkeys(codes))  # each once, in the steps' order
        if labels:
            assert " → ".join(labels) in html


def test_use_this_makes_a_draft_copy_with_its_texts(alice_client: Client) -> None:
    url = reverse("rules:use", kwargs={"key": "clinic-aftercare"})
    first = alice_client.post(url)
    second = alice_client.post(url)
    assert first["Location"] == reverse("rules:edit", kwargs={"key": "clinic-aftercare"})
    assert second["Location"] == reverse("rules:edit", kwargs={"key": "clinic-aftercare-2"})
    copy = Rule.objects.get(key="clinic-aftercare-2")
    assert copy.status == Rule.Status.DRAFT and copy.origin == "clinic-aftercare"
    assert copy.versions.count() == 0 and copy.draft is not None
    assert copy.draft["key"] == "clinic-aftercare-2"
    assert MessageTemplate.objects.filter(key="aftercare-3d").exists()
