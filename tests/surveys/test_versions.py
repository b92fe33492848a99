"""Saving a questionnaire: a version only when the content changed, never rewritten, audited."""

from __future__ import annotations

from typing import Any

import pytest

from huifang.audit.models import Entry
from huifang.core.models import ImmutableVersion
from huifang.surveys.document import SurveyError, load_survey_text, parse_survey
from huifang.surveys.models import Survey, SurveyVersion
from huifang.surveys.services import export_survey, save_survey

from .test_document import EXAMPLE, example

pytestmark = pytest.mark.django_db


def changed(**fields: Any) -> Any:
    return parse_survey({**example(), **fields})


def test_the_first_save_creates_version_1_and_an_audit_entry(alice: Any) -> None:
    saved = save_survey(load_survey_text(EXAMPLE), user=alice, note="first draft")
    assert (saved.changed, saved.version.number, saved.survey.status) == (True, 1, "draft")
    assert saved.version.created_by == alice
    entry = Entry.objects.get(action=Entry.Action.SURVEY)
    assert (entry.verb, entry.actor, entry.object_id) == ("created", "alice", str(saved.survey.pk))
    assert entry.details == {"version": 1, "note": "first draft"}


def test_the_same_content_again_is_no_new_version() -> None:
    save_survey(load_survey_text(EXAMPLE))
    again = save_survey(load_survey_text(EXAMPLE))
    assert (again.changed, again.version.number) == (False, 1)
    assert SurveyVersion.objects.count() == 1
    assert Entry.objects.filter(action=Entry.Action.SURVEY).count() == 1


def test_changed_content_is_version_2_and_version_1_stays() -> None:
    save_survey(load_survey_text(EXAMPLE))
    saved = save_survey(changed(name="购物满意度（新）", thank_you="谢谢！"))
    assert (saved.changed, saved.version.number) == (True, 2)
    assert Survey.objects.get().name == "购物满意度（新）"
    first = SurveyVersion.objects.get(number=1)
    assert first.content["thank_you"] == "感谢您的反馈！"
    verbs = list(Entry.objects.filter(action=Entry.Action.SURVEY).values_list("verb", flat=True))
    assert sorted(verbs) == ["created", "saved"]


def test_a_version_cannot_be_rewritten() -> None:
    version = save_survey(load_survey_text(EXAMPLE)).version
    version.content = {"rewritten": True}
    with pytest.raises(ImmutableVersion):
        version.save()
    assert SurveyVersion.objects.get().content == example()


def test_export_gives_the_current_version_else_the_latest() -> None:
    first = save_survey(load_survey_text(EXAMPLE))
    save_survey(changed(thank_you="第二版"))
    assert export_survey("after-purchase")["thank_you"] == "第二版"
    Survey.objects.filter(pk=first.survey.pk).update(current_version=first.version)
    assert export_survey("after-purchase") == example()


def test_exporting_an_unknown_key_says_so() -> None:
    with pytest.raises(SurveyError, match="nope"):
        export_survey("nope")
