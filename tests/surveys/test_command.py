"""``huifang surveys list | import | export``: files round-trip, a bad file saves nothing."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from huifang.audit.models import Entry
from huifang.rules.document import load_yaml
from huifang.surveys.models import Survey, SurveyVersion

from .test_document import EXAMPLE

pytestmark = pytest.mark.django_db


def survey_file(tmp_path: Path, text: str = EXAMPLE, name: str = "survey.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str) -> str:
    out = StringIO()
    call_command("surveys", *args, stdout=out)
    return out.getvalue()


def test_import_then_export_gives_the_file_back(tmp_path: Path) -> None:
    assert run("import", str(survey_file(tmp_path))) == "after-purchase: version 1\n"
    assert load_yaml(run("export", "after-purchase")) == load_yaml(EXAMPLE)
    exported = json.loads(run("export", "after-purchase", "--format", "json"))
    assert exported == load_yaml(EXAMPLE)
    # The export imports as it is, unchanged.
    again = survey_file(tmp_path, run("export", "after-purchase"), "again.yaml")
    assert run("import", str(again)) == "after-purchase: unchanged\n"


def test_a_changed_file_is_a_new_version(tmp_path: Path) -> None:
    run("import", str(survey_file(tmp_path)))
    text = EXAMPLE.replace("thank_you: 感谢您的反馈！", "thank_you: 谢谢！")
    assert run("import", str(survey_file(tmp_path, text)), "--note", "shorter") == (
        "after-purchase: version 2\n"
    )
    assert SurveyVersion.objects.get(number=2).note == "shorter"
    assert SurveyVersion.objects.get(number=1).note == "imported from survey.yaml"


def test_list_shows_status_and_versions(tmp_path: Path) -> None:
    run("import", str(survey_file(tmp_path)))
    assert run("list") == "after-purchase\tdraft\t-\tv1\t购物满意度调查\n"


def test_a_refused_file_saves_nothing_and_says_why(tmp_path: Path) -> None:
    good = survey_file(tmp_path)
    bad = survey_file(
        tmp_path,
        EXAMPLE.replace("key: after-purchase", "key: other").replace("goto: end", "goto: csat"),
        "bad.yaml",
    )
    with translation.override("zh-hans"), pytest.raises(CommandError) as caught:
        run("import", str(good), str(bad))
    message = str(caught.value)
    assert "bad.yaml" in message and "questions.3.jumps.0.goto" in message
    assert "问题“callback”（需要客服给您回电吗？）" in message
    assert not Survey.objects.exists() and not SurveyVersion.objects.exists()
    assert not Entry.objects.filter(action=Entry.Action.SURVEY).exists()


def test_a_missing_file_or_key_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"missing\.yaml"):
        run("import", str(tmp_path / "missing.yaml"))
    with translation.override("en"), pytest.raises(CommandError, match="no questionnaire “nope”"):
        run("export", "nope")
