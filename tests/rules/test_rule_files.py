"""``huifang rules import|export``: versions are new, immutable and round-trip."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from huifang.core.models import ImmutableVersion
from huifang.rules.document import load_yaml
from huifang.rules.models import Rule, RuleVersion

from .test_document import EXAMPLE

pytestmark = pytest.mark.django_db


def rule_file(tmp_path: Path, text: str = EXAMPLE, name: str = "rule.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(*args: str) -> str:
    out = StringIO()
    call_command("rules", *args, stdout=out)
    return out.getvalue()


def test_the_example_imports_and_exports_equal(tmp_path: Path) -> None:
    assert "version 1" in run("import", str(rule_file(tmp_path)), "--activate")
    rule = Rule.objects.get(key="retail-after-purchase")
    assert rule.current_version is not None
    assert (rule.status, rule.name, rule.current_version.number) == ("active", "购买后回访", 1)
    assert load_yaml(run("export", "retail-after-purchase")) == load_yaml(EXAMPLE)


def test_a_change_is_a_new_version_and_the_same_file_is_not(tmp_path: Path) -> None:
    run("import", str(rule_file(tmp_path)))
    assert "unchanged" in run("import", str(rule_file(tmp_path)))
    changed = EXAMPLE.replace("delay: {days: 3}", "delay: {days: 5}")
    assert "version 2" in run("import", str(rule_file(tmp_path, changed)))
    versions = list(RuleVersion.objects.order_by("number").values_list("number", flat=True))
    assert versions == [1, 2]
    assert RuleVersion.objects.get(number=1).content["trigger"]["delay"] == {"days": 3}


def test_versions_cannot_be_rewritten(tmp_path: Path) -> None:
    run("import", str(rule_file(tmp_path)))
    version = RuleVersion.objects.get()
    version.comment = "rewriting history"
    with pytest.raises(ImmutableVersion):
        version.save()


def test_a_bad_file_imports_nothing_and_names_the_field(tmp_path: Path) -> None:
    good = rule_file(tmp_path)
    bad = rule_file(
        tmp_path,
        EXAMPLE.replace("key: retail-after-purchase", "key: other").replace(
            "on_cap: defer", "on_cap: explode"
        ),
        "bad.yaml",
    )
    with pytest.raises(CommandError) as caught:
        run("import", str(good), str(bad))
    assert "bad.yaml" in str(caught.value) and "policy.on_cap" in str(caught.value)
    assert not Rule.objects.exists()


def test_exporting_an_unknown_key_says_so() -> None:
    with pytest.raises(CommandError, match="nope"):
        run("export", "nope")


def test_json_export(tmp_path: Path) -> None:
    import json

    run("import", str(rule_file(tmp_path)))
    assert json.loads(run("export", "--format", "json"))["key"] == "retail-after-purchase"
