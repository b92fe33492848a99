"""The questionnaire document: the example reads as written, jumps go where they say, and every
bad document is refused at the field, naming the question by id and title."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from huifang.rules.document import load_yaml
from huifang.surveys.document import (
    SurveyError,
    dump_survey,
    load_survey_text,
    next_question,
    pages,
    parse_survey,
    reachable,
)

EXAMPLE = """
key: after-purchase
name: 购物满意度调查
description: 购买三天后发出
questions:
  - id: csat
    type: csat
    title: 您对这次购物满意吗？
    required: true
    jumps:
      - when: {gte: 4}
        goto: comment
      - when: {equals: 1}
        goto: callback
  - id: why
    type: single_choice
    title: 哪里让您不满意？
    options:
      - {value: quality, label: 商品质量}
      - {value: delivery, label: 物流}
      - {value: other, label: 其他}
    jumps:
      - when: {in: [quality, other]}
        goto: callback
  - id: delivery_note
    type: text
    title: 物流有什么问题？
  - id: callback
    type: single_choice
    title: 需要客服给您回电吗？
    page: 2
    options:
      - {value: "yes", label: 需要}
      - {value: "no", label: 不需要}
    jumps:
      - when: {equals: "no"}
        goto: end
  - id: comment
    type: long_text
    title: 还有什么想说的？
thank_you: 感谢您的反馈！
"""


def example() -> dict[str, Any]:
    return load_yaml(EXAMPLE)  # type: ignore[no-any-return]


def refused(data: dict[str, Any]) -> SurveyError:
    with translation.override("en"), pytest.raises(SurveyError) as caught:
        parse_survey(data)
    return caught.value


def question(qid: str, kind: str = "text", **fields: Any) -> dict[str, Any]:
    return {"id": qid, "type": kind, "title": f"Title of {qid}", **fields}


def survey(*questions: dict[str, Any]) -> dict[str, Any]:
    return {"key": "test-survey", "name": "Test", "questions": list(questions)}


CHOICES = [{"value": v, "label": v.upper()} for v in ("a", "b", "c")]


# -- reading and following ------------------------------------------------------------------------


def test_the_example_reads_as_written_and_round_trips() -> None:
    doc = load_survey_text(EXAMPLE)
    assert [q.id for q in doc.questions] == ["csat", "why", "delivery_note", "callback", "comment"]
    assert dump_survey(doc) == example()
    assert pages(doc) == [1, 1, 1, 2, 2]
    assert reachable(doc) == {q.id for q in doc.questions}


@pytest.mark.parametrize(
    ("at", "answer", "goes_to"),
    [
        ("csat", 5, "comment"),
        ("csat", 4, "comment"),
        ("csat", 1, "callback"),  # the first matching jump wins: gte 4 does not, equals 1 does
        ("csat", 2, "why"),  # no jump matches: the next question
        ("why", "quality", "callback"),
        ("why", "delivery", "delivery_note"),
        ("why", None, "delivery_note"),  # unanswered never matches a condition
        ("delivery_note", "太慢了", "callback"),
        ("callback", "no", None),  # end
        ("callback", "yes", "comment"),
        ("comment", "谢谢", None),  # after the last question
    ],
)
def test_next_question_follows_the_first_matching_jump(
    at: str, answer: Any, goes_to: str | None
) -> None:
    assert next_question(load_survey_text(EXAMPLE), at, answer) == goes_to


def test_a_multiple_choice_jumps_when_one_chosen_option_matches() -> None:
    doc = parse_survey(
        survey(
            question(
                "pick",
                "multiple_choice",
                options=CHOICES,
                jumps=[{"when": {"equals": "c"}, "goto": "last"}],
            ),
            question("middle"),
            question("last"),
        )
    )
    assert next_question(doc, "pick", ["a", "c"]) == "last"
    assert next_question(doc, "pick", ["a", "b"]) == "middle"


def test_a_jump_without_when_is_always_taken() -> None:
    doc = parse_survey(
        survey(
            question("branch", "nps", jumps=[{"when": {"gte": 9}, "goto": "promoter"}]),
            question("detractor", jumps=[{"goto": "end"}]),
            question("promoter"),
        )
    )
    assert next_question(doc, "detractor", None) is None
    assert next_question(doc, "branch", 10) == "promoter"
    assert next_question(doc, "branch", 3) == "detractor"


def test_a_required_choice_whose_jumps_take_every_option_does_not_fall_through() -> None:
    jumps = [{"when": {"in": ["a", "b"]}, "goto": "end"}, {"when": {"equals": "c"}, "goto": "q3"}]
    covered = question("q1", "single_choice", options=CHOICES, required=True, jumps=jumps)
    error = refused(survey(covered, question("q2"), question("q3")))
    assert error.field == "questions.1"
    assert "“q2” (Title of q2)" in error.message and "never be reached" in error.message
    # Optional, the same question can be left unanswered and then leads on to q2.
    optional = {**covered, "required": False}
    assert reachable(parse_survey(survey(optional, question("q2"), question("q3")))) == {
        "q1",
        "q2",
        "q3",
    }


# -- refusals ------------------------------------------------------------------------------------


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(example())
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "field", "named", "words"),
    [
        # jumps
        (
            ["questions", 0, "jumps", 0, "goto"],
            "nowhere",
            "questions.0.jumps.0.goto",
            "csat",
            "not a question",
        ),
        (
            ["questions", 3, "jumps", 0, "goto"],
            "why",
            "questions.3.jumps.0.goto",
            "callback",
            "back",
        ),
        (["questions", 1, "jumps", 0, "goto"], "why", "questions.1.jumps.0.goto", "why", "back"),
        (
            ["questions", 0, "jumps", 0, "when"],
            {"lte": 11},
            "questions.0.jumps.0.when",
            "csat",
            "from 1 to 5",
        ),
        (
            ["questions", 0, "jumps", 0, "when"],
            {"equals": "5"},
            "questions.0.jumps.0.when",
            "csat",
            "from 1 to 5",
        ),
        (
            ["questions", 1, "jumps", 0, "when"],
            {"equals": "price"},
            "questions.1.jumps.0.when",
            "why",
            "no option “price”",
        ),
        (
            ["questions", 1, "jumps", 0, "when"],
            {"gte": 2},
            "questions.1.jumps.0.when",
            "why",
            "equals or in",
        ),
        (
            ["questions", 1, "jumps", 0, "when"],
            {"in": "quality"},
            "questions.1.jumps.0.when",
            "why",
            "takes a list",
        ),
        (
            ["questions", 1, "jumps", 0, "when"],
            {"equals": ["quality"]},
            "questions.1.jumps.0.when",
            "why",
            "takes a list",
        ),
        (
            ["questions", 2, "jumps"],
            [{"when": {"equals": "x"}, "goto": "end"}],
            "questions.2.jumps.0.when",
            "delivery_note",
            "without “when”",
        ),
        (
            ["questions", 0, "jumps", 1, "when"],
            {"gte": 5},
            "questions.0.jumps.1",
            "csat",
            "never taken",
        ),
        (
            ["questions", 1, "jumps", 0, "when"],
            {"in": []},
            "questions.1.jumps.0",
            "why",
            "never taken",
        ),
        (
            ["questions", 0, "jumps", 0, "when"],
            {"gte": 4, "lte": 5},
            "questions.0.jumps.0.when",
            "csat",
            "at most 1",
        ),
        # fields of each type
        (["questions", 1, "options"], CHOICES[:1], "questions.1.options", "why", "at least 2"),
        (
            ["questions", 1, "options"],
            [*CHOICES, CHOICES[0]],
            "questions.1.options",
            "why",
            "“a” twice",
        ),
        (
            ["questions", 2, "options"],
            CHOICES,
            "questions.2.options",
            "delivery_note",
            "takes no “options”",
        ),
        (["questions", 2, "max"], 7, "questions.2.max", "delivery_note", "takes no “max”"),
        (["questions", 2, "type"], "matrix", "questions.2.rows", "delivery_note", "at least 1"),
        (["questions", 2, "type"], "essay", "questions.2.type", "delivery_note", "Choose one of"),
        (["questions", 2, "title"], "x" * 301, "questions.2.title", "delivery_note", "at most 300"),
        (["questions", 1, "id"], "csat", "questions.1.id", "csat", "earlier question"),
        (["questions", 1, "id"], "end", "questions.1.id", "end", "choose another id"),
        (["questions", 1, "id"], "1st", "questions.1.id", "1st", "not allowed"),
        # pages and metrics
        (["questions", 4, "page"], 1, "questions.4.page", "comment", "cannot go back"),
        (
            ["questions", 2, "type"],
            "csat",
            "questions.2",
            "delivery_note",
            "so does question “csat”",
        ),
        (["questions", 0, "metric"], "nps", "questions.0.metric", "csat", "cannot feed NPS"),
    ],
)
def test_a_bad_document_is_refused_naming_the_question(
    path: list[Any], value: Any, field: str, named: str, words: str
) -> None:
    error = refused(_with(path, value))
    assert error.field == field, error
    assert f"Question “{named}” (" in error.message, error
    assert words in error.message, error


def test_a_rating_feeds_csat_only_with_five_stars() -> None:
    rating = question("stars", "rating", metric="csat")
    assert parse_survey(survey(rating)).questions[0].feeds() == "csat"
    error = refused(survey({**rating, "max": 10}))
    assert (error.field, "“stars” (Title of stars)" in error.message) == (
        "questions.0.metric",
        True,
    )


def test_a_matrix_has_rows_and_columns() -> None:
    rows = [{"value": "speed", "label": "速度"}]
    columns = CHOICES[:2]
    assert parse_survey(survey(question("grid", "matrix", rows=rows, columns=columns)))
    error = refused(survey(question("grid", "matrix", rows=rows, columns=columns[:1])))
    assert error.field == "questions.0.columns" and "“grid”" in error.message


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({**example(), "thank_you": "谢" * 501}, "thank_you"),
        ({**example(), "key": "Not A Slug"}, "key"),
        ({**example(), "questions": []}, "questions"),
        ({**example(), "questions": [question(f"q{n}") for n in range(101)]}, "questions"),
        ({**example(), "colour": "red"}, "colour"),
    ],
)
def test_a_bad_survey_field_is_refused_by_name(data: dict[str, Any], field: str) -> None:
    assert refused(data).field == field


def test_text_that_is_not_yaml_is_refused() -> None:
    with pytest.raises(SurveyError):
        load_survey_text("key: [unclosed")


def test_messages_are_in_the_users_language() -> None:
    with translation.override("zh-hans"), pytest.raises(SurveyError) as caught:
        parse_survey(_with(["questions", 0, "jumps", 0, "goto"], "nowhere"))
    assert "问题“csat”" in caught.value.message


def test_the_guides_examples_read() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "surveys.md").read_text("utf-8")
    example_block = guide.split("```yaml\n")[1].split("```")[0]
    assert load_survey_text(example_block).key == "after-purchase"
