"""The builder reads back exactly what it shows: every ready strategy survives a round trip
through the form, structural buttons change the working copy, problems land next to their
inputs, and a valid working copy saves as a version the importer would accept."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import QueryDict
from django.test import Client, TestCase
from django.urls import reverse

from huifang.rules.document import dump_rule, parse_rule
from huifang.rules.models import Rule, RuleChange
from huifang.rules.services import library_documents
from huifang.studio import form as builder_form
from huifang.studio.models import Preview
from huifang.surveys.services import load_survey_library
from tests.rules.formdata import form_values

pytestmark = pytest.mark.django_db


def _query(pairs: list[tuple[str, str]], **extra: str) -> QueryDict:
    data = QueryDict(mutable=True)
    for key, value in pairs:
        data.appendlist(key, value)
    for key, value in extra.items():
        data[key] = value
    return data


def _post(client: Client, key: str, pairs: list[tuple[str, str]], **extra: str) -> Any:
    return client.post(
        reverse("rules:edit", kwargs={"key": key}),
        _query(pairs, **extra).urlencode(),
        content_type="application/x-www-form-urlencoded",
        HTTP_HX_REQUEST="true",
    )


@pytest.mark.parametrize("document", library_documents(), ids=lambda d: d.key)
def test_every_ready_strategy_survives_the_form(alice_client: Client, document: Any) -> None:
    load_survey_library()  # as the gallery does: the questionnaires the strategies name
    content = dump_rule(document)
    rule = Rule.objects.create(key=document.key, name=document.name, draft=content)
    page = alice_client.get(reverse("rules:edit", kwargs={"key": rule.key}))
    assert page.status_code == 200
    pairs = form_values(page.content.decode())
    read = builder_form.document_from_form(_query(pairs), key=rule.key)
    assert builder_form.check(read) == {}
    assert parse_rule(read) == parse_rule(content)


def draft_of(key: str) -> dict[str, Any]:
    """The working copy of rule ``key``, which the builder keeps while it is edited."""
    draft = Rule.objects.get(key=key).draft
    assert draft is not None, f"{key} has no working copy"
    return draft


def test_buttons_change_the_working_copy(alice_client: Client) -> None:
    alice_client.post(reverse("rules:new"), {"name": "测试", "key": "t1"})
    assert draft_of("t1")["steps"] == []

    def press(action: str) -> dict[str, Any]:
        page = alice_client.get(reverse("rules:edit", kwargs={"key": "t1"}))
        response = _post(alice_client, "t1", form_values(page.content.decode()), action=action)
        assert response.status_code == 200
        return draft_of("t1")

    assert [s["id"] for s in press("add_step:message")["steps"]] == ["step-1"]
    draft = press("add_step:task")
    assert draft["steps"][1]["task"]["assign"] == {"strategy": "owner"}
    draft = press("down:steps.0")
    assert [s["id"] for s in draft["steps"]] == ["step-2", "step-1"]
    draft = press("add_leaf:audience")
    assert draft["audience"] == {"all": [{"field": "tier", "op": "in"}]}
    draft = press("add_group:audience")
    assert draft["audience"]["all"][1] == {"any": [{"field": "tier", "op": "in"}]}
    draft = press("add_leaf:audience.c.1")
    assert len(draft["audience"]["all"][1]["any"]) == 2
    draft = press("remove:audience.c.0")
    assert list(draft["audience"]["all"][0]) == ["any"]
    draft = press("add_cap:")
    assert draft["policy"]["caps"] == [{"channel": "any", "max": 3, "per_days": 30}]
    draft = press("remove:steps.1")
    assert [s["id"] for s in draft["steps"]] == ["step-2"]
    assert Rule.objects.get(key="t1").versions.count() == 0  # nothing saved as a version


def test_problems_are_shown_next_to_their_inputs(alice_client: Client) -> None:
    alice_client.post(reverse("rules:new"), {"name": "测试", "key": "t2"})
    page = alice_client.get(reverse("rules:edit", kwargs={"key": "t2"}))
    pairs = form_values(page.content.decode())
    pairs += [
        ("audience.join", "all"),
        ("audience.c.0.field", "spend_12m"),
        ("audience.c.0.op", "gt"),
        ("audience.c.0.value", "很多"),
        ("steps.0.kind", "message"),
        ("steps.0.id", "first"),
        ("steps.0.send.channel.0", "sms"),
        ("steps.0.send.template", "x"),
        ("steps.0.wait_reply.amount", "-3"),
        ("steps.0.wait_reply.unit", "days"),
    ]
    response = _post(alice_client, "t2", pairs, action="save")
    html = response.content.decode()
    assert 'data-error-for="audience.c.0.value"' in html
    assert 'data-error-for="steps.0.wait_reply"' in html
    assert 'data-error-for="trigger.event"' in html
    assert Rule.objects.get(key="t2").versions.count() == 0
    # What was typed is kept, problems and all.
    assert draft_of("t2")["audience"]["all"][0]["value"] == "很多"


def test_errors_speak_the_users_language(alice_client: Client) -> None:
    alice_client.post(reverse("rules:new"), {"name": "测试", "key": "t3"})
    pairs = [("name", "测试"), ("trigger.kind", "event"), ("trigger.event", "")]
    alice_client.cookies["django_language"] = "zh-hans"
    zh = _post(alice_client, "t3", pairs, action="save").content.decode()
    alice_client.cookies["django_language"] = "en"
    en = _post(alice_client, "t3", pairs, action="save").content.decode()
    assert "Add at least one step." in en
    assert "Add at least one step." not in zh


def test_saving_writes_a_version_and_clears_the_working_copy(alice_client: Client) -> None:
    library = {d.key: d for d in library_documents()}
    content = dump_rule(library["retail-after-purchase"])
    Rule.objects.create(key="retail-after-purchase", name="x", draft=content)
    page = alice_client.get(reverse("rules:edit", kwargs={"key": "retail-after-purchase"}))
    pairs = form_values(page.content.decode())
    response = _post(alice_client, "retail-after-purchase", pairs, action="save", comment="首版")
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse(
        "rules:detail", kwargs={"key": "retail-after-purchase"}
    )
    rule = Rule.objects.get(key="retail-after-purchase")
    assert rule.draft is None
    version = rule.latest_version()
    assert version is not None and version.comment == "首版"
    assert parse_rule(version.content) == library["retail-after-purchase"]
    assert RuleChange.objects.filter(rule=rule, action="saved", version=version).exists()


def test_agents_cannot_edit(bob: Any, client: Client) -> None:
    client.force_login(bob)
    Rule.objects.create(key="t4", name="t4")
    response = client.post(reverse("rules:edit", kwargs={"key": "t4"}), {"name": "改"})
    assert response.status_code == 403
    assert Rule.objects.get(key="t4").draft is None


def test_a_saved_version_has_its_first_period_simulated_for_the_preview(
    alice_client: Client,
) -> None:
    """The preview is usually ready when opened: saving queues its first period for a worker
    (run here once the request's transaction commits)."""
    library = {d.key: d for d in library_documents()}
    content = dump_rule(library["retail-after-purchase"])
    Rule.objects.create(key="retail-after-purchase", name="x", draft=content)
    page = alice_client.get(reverse("rules:edit", kwargs={"key": "retail-after-purchase"}))
    pairs = form_values(page.content.decode())
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = _post(alice_client, "retail-after-purchase", pairs, action="save")
    assert response.status_code == 204
    (preview,) = Preview.objects.all()
    assert (preview.version.number, preview.days, preview.status) == (1, 7, "done")
    assert preview.requested_by is not None and preview.requested_by.username == "alice"

    shown = alice_client.get(
        reverse("rules:preview_result", kwargs={"key": "retail-after-purchase"})
    )
    assert b'id="preview-result"' in shown.content and Preview.objects.count() == 1
