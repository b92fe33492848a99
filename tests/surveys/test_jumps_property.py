"""Hypothesis: a random questionnaire — random types, options, required flags, and jumps that go
forward, backward, to itself, nowhere or to the end — is either refused naming one of its
questions, or every question can be reached and any respondent's path through it ends without
coming back to a question."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from huifang.surveys.document import (
    Question,
    SurveyDocument,
    SurveyError,
    next_question,
    parse_survey,
    reachable,
)

TYPES = ["single_choice", "multiple_choice", "text", "rating", "csat", "nps", "ces", "date"]
METRICS = {"csat", "nps", "ces"}
OPTION_VALUES = ["a", "b", "c", "d"]


SCALES = {"rating": None, "csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


def wild_conditions() -> st.SearchStrategy[dict[str, Any]]:
    """Any ``when``, mostly impossible for the question it lands on."""
    value = st.one_of(st.integers(-1, 12), st.sampled_from([*OPTION_VALUES, "zz"]))
    return st.one_of(
        st.builds(lambda v: {"equals": v}, value),
        st.builds(lambda vs: {"in": vs}, st.lists(value, max_size=3)),
        st.builds(lambda v: {"lte": v}, value),
        st.builds(lambda v: {"gte": v}, value),
    )


def answer_values(question: dict[str, Any]) -> list[Any]:
    """The single answers a jump of the question can look at."""
    kind = question["type"]
    if kind in SCALES:
        low, high = SCALES[kind] or (1, question["max"])
        return list(range(low, high + 1))
    return [o["value"] for o in question.get("options", [])]


@st.composite
def fitting_conditions(draw: st.DrawFn, question: dict[str, Any]) -> list[dict[str, Any]]:
    """Conditions the question can have, each on answers no earlier one takes (so each can be
    taken): ``equals`` or ``in`` fresh answers, and on a scale perhaps a first ``lte`` or
    ``gte``."""
    values = answer_values(question)
    if not values:
        return []
    made: list[dict[str, Any]] = []
    used: set[Any] = set()
    if question["type"] in SCALES and draw(st.booleans()):
        point = draw(st.sampled_from(values))
        op = draw(st.sampled_from(["lte", "gte"]))
        made.append({op: point})
        used = {v for v in values if (v <= point if op == "lte" else v >= point)}
    for _ in range(draw(st.integers(0, 2))):
        fresh = [
            v
            for v in draw(st.lists(st.sampled_from(values), min_size=1, max_size=3, unique=True))
            if v not in used
        ]
        if fresh:
            used |= set(fresh)
            one = len(fresh) == 1 and draw(st.booleans())
            made.append({"equals": fresh[0]} if one else {"in": fresh})
    return made


@st.composite
def jumps(
    draw: st.DrawFn, question: dict[str, Any], ids: list[str], wild: bool
) -> list[dict[str, Any]]:
    """Forward jumps on answers the question can have, then perhaps one always taken. In a
    ``wild`` questionnaire a jump may go anywhere (back, to itself, to no question) or have a
    condition that does not fit."""
    index = ids.index(question["id"])
    forward = st.sampled_from([*ids[index + 1 :], "end"])
    anywhere = st.sampled_from([*ids, "nowhere", "end"])
    made = [{"when": when, "goto": draw(forward)} for when in draw(fitting_conditions(question))]
    if wild:
        for _ in range(draw(st.integers(0, 2))):
            jump = {"when": draw(wild_conditions()), "goto": draw(anywhere)}
            made.insert(draw(st.integers(0, len(made))), jump)
    if draw(st.integers(0, 3)) == 0:
        made.append({"goto": draw(anywhere if wild else forward)})
    return made


@st.composite
def questionnaires(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 8))
    ids = [f"q{n}" for n in range(count)]
    wild = draw(st.integers(0, 3)) == 0
    questions = []
    used_metrics: set[str] = set()
    for qid in ids:
        kind = draw(st.sampled_from(TYPES))
        if kind in METRICS and not wild:  # one question per metric, except in wild ones
            kind = "rating" if kind in used_metrics else kind
            used_metrics.add(kind)
        question: dict[str, Any] = {
            "id": qid,
            "type": kind,
            "title": f"问题 {qid}",
            "required": draw(st.booleans()),
        }
        if kind in ("single_choice", "multiple_choice"):
            size = draw(st.integers(2, len(OPTION_VALUES)))
            question["options"] = [{"value": v, "label": v} for v in OPTION_VALUES[:size]]
        if kind == "rating":
            question["max"] = draw(st.integers(3, 10))
        question["jumps"] = draw(jumps(question, ids, wild))
        questions.append(question)
    return {"key": "random", "name": "随机问卷", "questions": questions}


def answers_to(question: Question) -> st.SearchStrategy[Any]:
    """What a respondent can give: an answer of the question's kind, or none when optional."""
    values = [o.value for o in question.options or []]
    scale = question.scale()
    given_: st.SearchStrategy[Any]
    if scale is not None:
        given_ = st.integers(*scale)
    elif question.type == "single_choice":
        given_ = st.sampled_from(values)
    elif question.type == "multiple_choice":
        given_ = st.lists(st.sampled_from(values), min_size=1, unique=True)
    else:
        given_ = st.text(max_size=5)
    return given_ if question.required else st.one_of(st.none(), given_)


def walk(doc: SurveyDocument, data: st.DataObject) -> list[str]:
    """A respondent's path, question by question, until the questionnaire ends."""
    path: list[str] = []
    current: str | None = doc.questions[0].id
    while current is not None:
        assert current not in path, f"came back to {current} after {path}"
        assert len(path) < len(doc.questions)
        path.append(current)
        question = doc.questions[doc.index_of(current)]
        current = next_question(doc, current, data.draw(answers_to(question)))
    return path


@settings(max_examples=400, deadline=None)
@given(raw=questionnaires(), data=st.data())
def test_a_questionnaire_is_refused_naming_a_question_or_every_path_ends(
    raw: dict[str, Any], data: st.DataObject
) -> None:
    try:
        doc = parse_survey(raw)
    except SurveyError as error:
        assert error.field.startswith("questions."), error
        assert any(f"“{q['id']}”" in error.message for q in raw["questions"]), error
        return
    assert reachable(doc) == {q.id for q in doc.questions}
    path = walk(doc, data)
    assert set(path) <= reachable(doc)
