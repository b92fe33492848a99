"""A rule's trigger in one line of words (the rule list's trigger column), and rules by their
names where the studio lists them."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from huifang.rules.services import library_documents, save_rule
from huifang.studio.impact import rule_names
from huifang.studio.words import trigger_text


@pytest.mark.parametrize(
    ("trigger", "words"),
    [
        ({"kind": "event", "event": "purchase", "delay": {"days": 3}}, "购买后 3 天"),
        ({"kind": "event", "event": "complaint"}, "投诉时"),
        (
            {"kind": "date", "field": "birthday", "offset": {"days": 7}, "before": True},
            "生日前 7 天",
        ),
        (
            {
                "kind": "date",
                "event": "contract_ends",
                "property": "ends_on",
                "offset": {"days": 90},
                "before": True,
            },
            "合同到期前 90 天",
        ),
        ({"kind": "recurring", "every": {"months": 1}}, "每 1 个月"),
        ({"kind": "segment", "where": {"all": []}}, "客户进入某个分群时"),
    ],
)
def test_triggers_in_words(trigger: dict[str, object], words: str) -> None:
    with translation.override("zh-hans"):
        assert trigger_text(trigger) == words


@pytest.mark.django_db
def test_the_rule_list_names_the_event(alice_client: Client) -> None:
    document = {d.key: d for d in library_documents()}["retail-after-purchase"]
    save_rule(document)
    page = alice_client.get("/rules/").content.decode()
    row = page[page.index("retail-after-purchase") - 2000 :][:4000]
    assert "购买后" in row or "签收后" in row


@pytest.mark.django_db
def test_rules_are_named_not_keyed() -> None:
    document = {d.key: d for d in library_documents()}["retail-after-purchase"]
    save_rule(document)
    assert rule_names(["retail-after-purchase", "gone"]) == [document.name, "gone"]
