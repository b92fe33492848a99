"""The ready questionnaires (purchase satisfaction, ticket CSAT, quarterly NPS, clinic recovery
check, course feedback) are valid files named after their keys, and import as they are."""

from __future__ import annotations

import pytest

from huifang.surveys.document import next_question, reachable
from huifang.surveys.services import LIBRARY, library_documents, save_survey

pytestmark = pytest.mark.django_db


def test_every_library_file_parses_and_is_named_after_its_key() -> None:
    documents = library_documents()
    assert sorted(d.key for d in documents) == sorted(p.stem for p in LIBRARY.glob("*.yaml"))
    assert {d.key for d in documents} >= {
        "purchase-satisfaction",
        "ticket-csat",
        "quarterly-nps",
        "clinic-recovery-check",
        "course-feedback",
    }
    for document in documents:
        assert reachable(document) == {q.id for q in document.questions}
        assert save_survey(document).changed


def test_the_quarterly_nps_asks_detractors_and_promoters_their_own_question() -> None:
    nps = next(d for d in library_documents() if d.key == "quarterly-nps")
    assert next_question(nps, "nps", 3) == "detractor"
    assert next_question(nps, "detractor_text", "价格太高") is None
    assert next_question(nps, "nps", 8) is None  # passives are done
    assert next_question(nps, "nps", 10) == "promoter"
    assert [q.feeds() for q in nps.questions if q.feeds()] == ["nps"]
