"""The questionnaire builder in the strategy studio: the form read back into a document, saving
as a new audited version, a refused save naming the question and keeping what was typed, the
preview that writes nothing, status changes, the gallery, and who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import translation

from huifang.audit.models import Entry
from huifang.studio.survey_form import apply_action, document_from_form
from huifang.surveys.document import dump_survey, load_survey_text, parse_survey
from huifang.surveys.models import Response, Survey, SurveyVersion
from huifang.surveys.services import LIBRARY, library_documents, save_survey

pytestmark = pytest.mark.django_db

EDIT = "/rules/surveys/{key}/edit/"


def form(**extra: str) -> dict[str, str]:
    """A two-question questionnaire as the builder posts it: a CSAT that ends low scores
    early, then a long text."""
    data = {
        "name": "售后满意度",
        "key": "after-sales",
        "questions.0.id": "csat",
        "questions.0.type": "csat",
        "questions.0.title": "您对这次服务满意吗？",
        "questions.0.required": "on",
        "questions.0.jumps.0.op": "lte",
        "questions.0.jumps.0.value": "2",
        "questions.0.jumps.0.goto": "why",
        "questions.0.jumps.1.op": "always",
        "questions.0.jumps.1.goto": "end",
        "questions.1.id": "why",
        "questions.1.type": "long_text",
        "questions.1.title": "哪里让您不满意？",
        "questions.1.new_page": "on",
        "thank_you": "谢谢！",
    }
    data.update(extra)
    return data


def test_the_form_reads_back_into_the_document() -> None:
    document = document_from_form(form(), key="after-sales")
    assert document == {
        "key": "after-sales",
        "name": "售后满意度",
        "questions": [
            {
                "id": "csat",
                "type": "csat",
                "title": "您对这次服务满意吗？",
                "required": True,
                "jumps": [{"when": {"lte": 2}, "goto": "why"}, {"goto": "end"}],
            },
            {"id": "why", "type": "long_text", "title": "哪里让您不满意？", "page": 2},
        ],
        "thank_you": "谢谢！",
    }
    parse_survey(document)


def test_every_ready_questionnaire_survives_the_form_unchanged() -> None:
    """What the builder shows of a ready questionnaire is what it saves back."""
    from django.template.loader import render_to_string
    from django.test import RequestFactory

    from huifang.studio.survey_views import _context

    request = RequestFactory().get("/")
    request.user = type("U", (), {"is_authenticated": False})()
    for doc in library_documents():
        content = dump_survey(doc)
        html = render_to_string(
            "studio/surveys/_builder.html", _context(request, None, content, {})
        )
        data = _inputs(html)
        assert dump_survey(parse_survey(document_from_form(data, key=doc.key))) == content


def _inputs(html: str) -> Any:
    """The values a browser would post from the builder's form (inputs, selects, textareas)."""
    from html.parser import HTMLParser

    from django.http import QueryDict

    posted = QueryDict(mutable=True)

    class Reader(HTMLParser):
        select: str | None = None
        textarea: str | None = None
        first: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            name = a.get("name")
            if tag == "input" and name and a.get("type") not in ("checkbox", "submit"):
                posted.appendlist(name, a.get("value") or "")
            elif tag == "input" and name and "checked" in a:
                posted.appendlist(name, a.get("value") or "on")
            elif tag == "select":
                self.select, self.first = name, None
            elif tag == "option" and self.select:
                if self.first is None:
                    self.first = a.get("value") or ""
                if "selected" in a:
                    posted.appendlist(self.select, a.get("value") or "")
                    self.select = None
            elif tag == "textarea" and name:
                self.textarea = name
                posted.appendlist(name, "")

        def handle_endtag(self, tag: str) -> None:
            if tag == "select" and self.select:
                posted.appendlist(self.select, self.first or "")
                self.select = None
            if tag == "textarea":
                self.textarea = None

        def handle_data(self, data: str) -> None:
            if self.textarea:
                posted.setlist(self.textarea, [data])

    Reader(convert_charrefs=True).feed(html)
    return posted


def test_buttons_add_move_and_remove_questions_options_and_jumps() -> None:
    document = document_from_form(form(), key="after-sales")
    apply_action(document, "add:single_choice")
    assert document["questions"][2]["id"] == "q3"
    assert len(document["questions"][2]["options"]) == 2
    apply_action(document, "add_item:2.options")
    assert [o["value"] for o in document["questions"][2]["options"]] == ["1", "2", "3"]
    apply_action(document, "up:2")
    assert [q["id"] for q in document["questions"]] == ["csat", "q3", "why"]
    apply_action(document, "add_item:1.jumps")
    assert document["questions"][1]["jumps"] == [{"goto": "end"}]
    apply_action(document, "remove_item:1.jumps.0")
    assert "jumps" not in document["questions"][1]
    apply_action(document, "remove:1")
    assert [q["id"] for q in document["questions"]] == ["csat", "why"]


def test_saving_makes_an_audited_version_and_opens_the_builder(alice_client: Client) -> None:
    answer = alice_client.post("/rules/surveys/new/", {**form(), "action": "save"})
    assert answer.status_code == 204
    assert answer["HX-Redirect"] == EDIT.format(key="after-sales")
    survey = Survey.objects.get(key="after-sales")
    assert survey.latest_version().number == 1  # type: ignore[union-attr]
    entry = Entry.objects.get(action="survey", verb="created")
    assert entry.actor == "alice"

    changed = form(**{"questions.1.title": "我们哪里可以做得更好？"})
    answer = alice_client.post(EDIT.format(key="after-sales"), {**changed, "action": "save"})
    assert answer.status_code == 204
    assert list(survey.versions.values_list("number", flat=True)) == [2, 1]
    assert Entry.objects.filter(action="survey", verb="saved").count() == 1
    page = alice_client.get(EDIT.format(key="after-sales")).content.decode()
    assert "我们哪里可以做得更好？" in page and 'data-version="2"' in page


def test_an_answered_version_is_kept_and_saving_makes_a_new_one(alice_client: Client) -> None:
    text = (LIBRARY / "quarterly-nps.yaml").read_text(encoding="utf-8")
    version = save_survey(load_survey_text(text)).version
    Response.objects.create(version=version, answers={"nps": 9})
    page = alice_client.get(EDIT.format(key="quarterly-nps")).content.decode()
    assert 'id="answered-note"' in page
    content = dict(version.content)
    data = _inputs(page)
    data["name"] = "季度 NPS（新）"
    data["action"] = "save"
    assert alice_client.post(EDIT.format(key="quarterly-nps"), data).status_code == 204
    version.refresh_from_db()
    assert version.content == content
    assert SurveyVersion.objects.get(survey__key="quarterly-nps", number=2).content["name"] == (
        "季度 NPS（新）"
    )


@pytest.mark.parametrize(
    ("change", "named", "english"),
    [
        # The first question ends every answer, so the second can never be reached.
        (
            {"questions.0.jumps.0.op": "always", "questions.0.jumps.0.goto": "end"},
            "“why”",
            "can never be reached",
        ),
        # A loop: the second question jumps back to the first.
        (
            {"questions.1.jumps.0.op": "always", "questions.1.jumps.0.goto": "csat"},
            "“why”",
            "jumps back to “csat”",
        ),
        # A jump to a question that is not there.
        ({"questions.0.jumps.0.goto": "gone"}, "“csat”", "not a question here"),
    ],
)
def test_a_refused_save_names_the_question_and_keeps_what_was_typed(
    alice_client: Client, change: dict[str, str], named: str, english: str
) -> None:
    data = {**form(**change), "action": "save", "questions.1.help": "请尽量具体"}
    if "questions.0.jumps.0.op" in change:
        data.pop("questions.0.jumps.1.op")
        data.pop("questions.0.jumps.1.goto")
    answer = alice_client.post("/rules/surveys/new/", data, HTTP_ACCEPT_LANGUAGE="en")
    assert answer.status_code == 200
    page = answer.content.decode()
    assert not Survey.objects.exists()
    assert english in page and named in page
    index = 1 if named == "“why”" else 0
    # The problem is shown in the card of the question it names.
    card = page.split(f'id="q-{index}"')[1].split("</li>")[0]
    assert english in card
    assert 'value="请尽量具体"' in page and 'value="售后满意度"' in page
    with translation.override("zh-hans"):
        chinese = alice_client.post(
            "/rules/surveys/new/", data, HTTP_ACCEPT_LANGUAGE="zh-hans"
        ).content.decode()
    assert named in chinese and english not in chinese


def test_a_new_questionnaire_may_not_take_a_key_in_use(alice_client: Client) -> None:
    save_survey(parse_survey(document_from_form(form(), key="after-sales")))
    data = {**form(**{"questions.1.title": "别的"}), "action": "save"}
    page = alice_client.post("/rules/surveys/new/", data, HTTP_ACCEPT_LANGUAGE="en")
    assert "A questionnaire with the key “after-sales” exists." in page.content.decode()
    assert SurveyVersion.objects.count() == 1


def test_the_preview_renders_the_answer_page_and_writes_nothing(alice_client: Client) -> None:
    answer = alice_client.post("/rules/surveys/preview/", form(), HTTP_ACCEPT_LANGUAGE="en")
    page = answer.content.decode()
    assert answer.status_code == 200
    assert "sandbox" in page and "Answers are not sent." in page
    assert "您对这次服务满意吗？" in page
    screen = alice_client.post(
        "/rules/surveys/preview/", {**form(), "preview_from": "why"}, HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "哪里让您不满意？" in screen and "您对这次服务满意吗？" not in screen.split("srcdoc")[1]
    broken = form(**{"questions.0.jumps.0.goto": "gone"})
    problem = alice_client.post("/rules/surveys/preview/", broken, HTTP_ACCEPT_LANGUAGE="en")
    assert "not a question here" in problem.content.decode()
    assert not Survey.objects.exists() and not Response.objects.exists()


def test_status_changes_are_audited_and_activate_the_latest_version(
    alice_client: Client,
) -> None:
    survey = save_survey(parse_survey(document_from_form(form(), key="after-sales"))).survey
    answer = alice_client.post("/rules/surveys/after-sales/status/", {"status": "active"})
    assert answer.status_code == 302
    survey.refresh_from_db()
    assert survey.status == "active" and survey.current_version.number == 1  # type: ignore[union-attr]
    entry = Entry.objects.get(action="survey", verb="status")
    assert entry.details == {"from": "draft", "to": "active", "version": 1}
    # Saving an active questionnaire sends the new version.
    alice_client.post(
        EDIT.format(key="after-sales"),
        {**form(**{"questions.1.title": "新的问题"}), "action": "save"},
    )
    survey.refresh_from_db()
    assert survey.current_version.number == 2  # type: ignore[union-attr]
    alice_client.post("/rules/surveys/after-sales/status/", {"status": "archived"})
    survey.refresh_from_db()
    assert survey.status == "archived"
    assert Entry.objects.filter(action="survey", verb="status").count() == 2


def test_the_gallery_makes_a_questionnaire_and_refuses_a_key_in_use(
    alice_client: Client,
) -> None:
    page = alice_client.get("/rules/surveys/gallery/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for doc in library_documents():
        assert f'data-ready="{doc.key}"' in page and doc.name in page
    assert "4 questions" in page
    answer = alice_client.post(
        "/rules/surveys/gallery/ticket-csat/use/", {"key": "my-csat", "name": "工单回访"}
    )
    assert answer.status_code == 302 and answer["Location"] == EDIT.format(key="my-csat")
    survey = Survey.objects.get(key="my-csat")
    assert survey.name == "工单回访"
    created = Entry.objects.get(action="survey", verb="created")
    assert created.details["note"] == "ready: ticket-csat"
    again = alice_client.post(
        "/rules/surveys/gallery/quarterly-nps/use/",
        {"key": "my-csat", "name": "季度"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert again.status_code == 400
    assert "A questionnaire with the key “my-csat” exists" in again.content.decode()
    assert Survey.objects.count() == 1


def test_the_list_shows_answers_and_links_to_results(alice_client: Client) -> None:
    from django.utils import timezone

    version = save_survey(parse_survey(document_from_form(form(), key="after-sales"))).version
    Response.objects.create(version=version, submitted_at=timezone.now())
    Response.objects.create(version=version)  # started, not submitted
    page = alice_client.get("/rules/surveys/").content.decode()
    row = page.split('data-survey="after-sales"')[1].split("</tr>")[0]
    assert '<td class="text-end">1</td>' in row
    assert 'href="/rules/surveys/after-sales/results/"' in row


def test_viewers_read_the_builder_and_may_not_change_it(bob_client: Client, alice: Any) -> None:
    save_survey(parse_survey(document_from_form(form(), key="after-sales")))
    page = bob_client.get(EDIT.format(key="after-sales"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="survey-readonly"' in html and "<fieldset disabled" in html
    assert 'id="save-version"' not in html
    data = {**form(**{"questions.1.title": "改了"}), "action": "save"}
    assert bob_client.post(EDIT.format(key="after-sales"), data).status_code == 403
    assert bob_client.post("/rules/surveys/new/", data).status_code == 403
    status = bob_client.post("/rules/surveys/after-sales/status/", {"status": "active"})
    assert status.status_code == 403
    use = bob_client.post("/rules/surveys/gallery/ticket-csat/use/", {"key": "x-csat"})
    assert use.status_code == 403
    assert SurveyVersion.objects.count() == 1
    assert Survey.objects.get().status == "draft"
    assert Client().get("/rules/surveys/").status_code == 302  # to the sign-in page
