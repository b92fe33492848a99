"""The ready strategies of PRODUCT.md ship as rule files that import as they are."""

from __future__ import annotations

import pytest

from huifang.demo.generator import generate
from huifang.rules.models import Rule
from huifang.rules.services import LIBRARY, library_documents
from huifang.studio.gallery import load_library

pytestmark = pytest.mark.django_db


def test_every_ready_strategy_is_a_valid_rule_named_after_its_file() -> None:
    documents = library_documents()
    assert len(documents) >= 10
    assert sorted(d.key for d in documents) == sorted(p.stem for p in LIBRARY.glob("*.yaml"))
    kinds = {d.trigger.kind for d in documents}
    assert kinds == {"event", "date", "segment", "recurring"}


def test_loading_twice_adds_no_versions() -> None:
    load_library()
    load_library()
    assert Rule.objects.count() == len(library_documents())
    assert all(rule.versions.count() == 1 for rule in Rule.objects.all())
    assert set(Rule.objects.values_list("status", flat=True)) == {"draft"}


def test_the_demo_loads_them() -> None:
    generate(customers=5, seed=4, parallel=False, log=lambda _line: None)
    assert Rule.objects.filter(key="retail-after-purchase").exists()
