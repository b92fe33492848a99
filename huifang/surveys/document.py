"""The questionnaire document (问卷): what ``huifang surveys import|export`` reads and writes.

A survey version's content is exactly this document. ``parse_survey`` checks it completely
before anything is saved: first types and lengths (pydantic), then what a schema cannot see —
which fields each question type takes, pages, jumps (to a known question further on, on an
answer the question can have, not hidden behind an earlier jump) and that every question can be
reached. ``reachable`` and ``next_question`` are the jump logic the answer page follows, so what
the check proves is what respondents get.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
import yaml
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from huifang.core.scores import CES, CSAT, NPS
from huifang.core.validation import describe_validation_error
from huifang.rules.document import load_yaml

END = "end"  # a jump's target that ends the questionnaire

QuestionType = Literal[
    "single_choice",
    "multiple_choice",
    "text",
    "long_text",
    "rating",
    "csat",
    "nps",
    "ces",
    "date",
    "matrix",
]
QUESTION_TYPES = {
    "single_choice": gettext_lazy("Single choice"),
    "multiple_choice": gettext_lazy("Multiple choice"),
    "text": gettext_lazy("Short text"),
    "long_text": gettext_lazy("Long text"),
    "rating": gettext_lazy("Rating (stars)"),
    "csat": gettext_lazy("CSAT (1–5)"),
    "nps": gettext_lazy("NPS (0–10)"),
    "ces": gettext_lazy("CES (1–7)"),
    "date": gettext_lazy("Date"),
    "matrix": gettext_lazy("Matrix"),
}
CHOICE = frozenset({"single_choice", "multiple_choice"})
# The metric questions answer on the scales replies are read on (``core.scores``).
SCALES: dict[str, tuple[int, int]] = {s.kind: (s.low, s.high) for s in (CSAT, NPS, CES)}
DEFAULT_STARS = 5
Metric = Literal["csat", "nps", "ces"]

Scalar = StrictInt | StrictStr  # strict: YAML's true is not the answer 1
Operator = Literal["equals", "in", "lte", "gte"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Option(Strict):
    value: str = Field(..., min_length=1, max_length=80)
    label: str = Field(..., min_length=1, max_length=200)


class Jump(Strict):
    """Go to ``goto`` (a question further on, or ``end``) when the answer matches ``when``:
    ``equals`` one answer, ``in`` a list, ``lte`` / ``gte`` a number on the question's scale.
    For a multiple choice an answer matches when one of its chosen options does. Without
    ``when`` the jump is always taken, answered or not: how a branch ends or skips the rest."""

    when: (
        Annotated[
            dict[Operator, Scalar | Annotated[list[Scalar], Field(max_length=30)]],
            Field(min_length=1, max_length=1),
        ]
        | None
    ) = None
    goto: str = Field(..., min_length=1, max_length=50)

    def condition(self) -> tuple[str, Any] | None:
        return next(iter(self.when.items())) if self.when else None


class Question(Strict):
    id: str = Field(..., pattern=r"^[A-Za-z][\w-]{0,49}$")
    type: QuestionType
    title: str = Field(..., min_length=1, max_length=300)
    help: str = Field("", max_length=500)
    required: bool = False
    options: list[Option] | None = Field(None, max_length=30)
    rows: list[Option] | None = Field(None, max_length=30)
    columns: list[Option] | None = Field(None, max_length=10)
    max: int | None = Field(None, ge=3, le=10, description="stars of a rating")
    page: int | None = Field(None, ge=1, le=100, description="default: the previous question's")
    jumps: list[Jump] = Field(default_factory=list, max_length=30)
    metric: Metric | None = None

    def scale(self) -> tuple[int, int] | None:
        """The lowest and highest answer of a numeric question."""
        if self.type == "rating":
            return 1, self.max or DEFAULT_STARS
        return SCALES.get(self.type)

    def feeds(self) -> str | None:
        """The metric its answer is stored as (``csat``, ``nps`` or ``ces``), if any."""
        return self.metric or (self.type if self.type in SCALES else None)

    def answers(self) -> list[Any]:
        """Every single answer a jump can look at: the options of a choice (one chosen option
        of a multiple choice), the points of a scale; empty for the other types."""
        scale = self.scale()
        if scale is not None:
            return list(range(scale[0], scale[1] + 1))
        values = [option.value for option in self.options or []] if self.type in CHOICE else []
        return [[value] for value in values] if self.type == "multiple_choice" else values


class SurveyDocument(Strict):
    key: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]{1,79}$")
    name: str = Field(..., min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    questions: list[Question] = Field(..., min_length=1, max_length=100)
    thank_you: str = Field("", max_length=500)

    def index_of(self, question_id: str) -> int:
        for index, question in enumerate(self.questions):
            if question.id == question_id:
                return index
        raise KeyError(question_id)

    def following(self, index: int) -> str | None:
        """The id of the question after the one at ``index``; None after the last."""
        return self.questions[index + 1].id if index + 1 < len(self.questions) else None


class SurveyError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


# -- the jump logic the answer page follows -------------------------------------------------------


def matches(question: Question, jump: Jump, answer: Any) -> bool:
    """Whether ``answer`` (None when unanswered) takes ``jump``."""
    condition = jump.condition()
    if condition is None:
        return True
    if answer is None:
        return False
    op, expected = condition
    chosen = answer if question.type == "multiple_choice" and isinstance(answer, list) else [answer]
    if op == "equals":
        return expected in chosen
    if op == "in":
        return isinstance(expected, list) and any(value in expected for value in chosen)
    if not (_is_int(answer) and _is_int(expected)):
        return False
    return bool(answer <= expected if op == "lte" else answer >= expected)


def next_question(doc: SurveyDocument, question_id: str, answer: Any) -> str | None:
    """The question that follows ``question_id`` answered with ``answer``: the first matching
    jump's target, else the next question; None when the questionnaire ends."""
    index = doc.index_of(question_id)
    question = doc.questions[index]
    for jump in question.jumps:
        if matches(question, jump, answer):
            return None if jump.goto == END else jump.goto
    return doc.following(index)


def reachable(doc: SurveyDocument) -> set[str]:
    """The ids of the questions some respondent can arrive at from the first one."""
    seen = {doc.questions[0].id}
    todo = [0]
    while todo:
        index = todo.pop()
        for target in _targets(doc, index):
            if target is not None and target not in seen:
                seen.add(target)
                todo.append(doc.index_of(target))
    return seen


# Stands for any answer of a question whose answers jumps cannot look at (text, date, matrix).
_FREE_ANSWER = object()


def possible_answers(question: Question) -> list[Any]:
    """One answer for each way the question's jumps can go: every single answer a jump can
    look at (or one free answer), and None (unanswered) unless the question is required."""
    answers = question.answers() or [_FREE_ANSWER]
    return answers if question.required else [*answers, None]


def _targets(doc: SurveyDocument, index: int) -> set[str | None]:
    """Where the question at ``index`` can lead. A required question whose jumps take every
    answer it can have never falls through to the next question."""
    question = doc.questions[index]
    return {next_question(doc, question.id, answer) for answer in possible_answers(question)}


# -- parsing --------------------------------------------------------------------------------------


def parse_survey(data: Any) -> SurveyDocument:
    """Check a questionnaire completely; raise ``SurveyError`` naming the first problem and,
    when it lies in a question, the question by id and title."""
    try:
        doc = SurveyDocument.model_validate(data)
    except pydantic.ValidationError as exc:
        first = describe_validation_error(exc)[0]
        raise SurveyError(first["field"], _in_question(data, first)) from None
    _check_ids(doc)
    for index, question in enumerate(doc.questions):
        _check_fields(index, question)
    _check_pages(doc)
    for index, question in enumerate(doc.questions):
        _check_jumps(doc, index, question)
    _check_metrics(doc)
    _check_reachable(doc)
    return doc


def load_survey_text(text: str) -> SurveyDocument:
    """A questionnaire from YAML or JSON text (JSON is YAML too)."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise SurveyError(
            "", _("This is not valid YAML or JSON: %(error)s") % {"error": exc}
        ) from None
    return parse_survey(data)


def dump_survey(doc: SurveyDocument) -> dict[str, Any]:
    """The document as plain data, without defaults nobody wrote."""
    return doc.model_dump(mode="json", exclude_unset=True)


def pages(doc: SurveyDocument) -> list[int]:
    """Each question's page: as written, or the page of the question before it."""
    numbers: list[int] = []
    for question in doc.questions:
        numbers.append(question.page or (numbers[-1] if numbers else 1))
    return numbers


def _named(question: Question) -> dict[str, Any]:
    title = question.title if len(question.title) <= 40 else question.title[:39] + "…"
    return {"id": question.id, "title": title}


def _in_question(data: Any, error: dict[str, str]) -> str:
    """Pydantic's message, prefixed with the question it is about when there is one."""
    parts = error["field"].split(".")
    questions = data.get("questions") if isinstance(data, dict) else None
    if len(parts) < 2 or parts[0] != "questions" or not parts[1].isdigit():
        return error["message"]
    if not isinstance(questions, list):
        return error["message"]
    index = int(parts[1])
    raw = questions[index] if index < len(questions) else None
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return error["message"]
    title = str(raw.get("title", ""))
    return _("Question “%(id)s” (%(title)s): %(problem)s") % {
        "id": raw["id"],
        "title": title if len(title) <= 40 else title[:39] + "…",
        "problem": error["message"],
    }


def _check_ids(doc: SurveyDocument) -> None:
    seen: set[str] = set()
    for index, question in enumerate(doc.questions):
        if question.id == END:
            raise SurveyError(
                f"questions.{index}.id",
                _(
                    "Question “%(id)s” (%(title)s): “end” is what a jump names to end the "
                    "questionnaire; choose another id."
                )
                % _named(question),
            )
        if question.id in seen:
            raise SurveyError(
                f"questions.{index}.id",
                _("Question “%(id)s” (%(title)s): an earlier question has this id too.")
                % _named(question),
            )
        seen.add(question.id)


def _check_fields(index: int, question: Question) -> None:
    """Which of options, rows, columns, max and metric a question of its type takes."""
    place = f"questions.{index}"
    allowed = {
        "options": question.type in CHOICE,
        "rows": question.type == "matrix",
        "columns": question.type == "matrix",
        "max": question.type == "rating",
    }
    for field, ok in allowed.items():
        if not ok and field in question.model_fields_set:
            raise SurveyError(
                f"{place}.{field}",
                _("Question “%(id)s” (%(title)s) is a %(type)s question and takes no “%(field)s”.")
                % {**_named(question), "type": QUESTION_TYPES[question.type], "field": field},
            )
    least = {"options": 2, "rows": 1, "columns": 2}
    for field, minimum in least.items():
        values = [option.value for option in getattr(question, field) or []]
        if allowed[field] and len(values) < minimum:
            raise SurveyError(
                f"{place}.{field}",
                _("Question “%(id)s” (%(title)s) needs at least %(count)s “%(field)s”.")
                % {**_named(question), "count": minimum, "field": field},
            )
        twice = next((value for n, value in enumerate(values) if value in values[:n]), None)
        if twice is not None:
            raise SurveyError(
                f"{place}.{field}",
                _("Question “%(id)s” (%(title)s) has the value “%(value)s” twice in “%(field)s”.")
                % {**_named(question), "value": twice, "field": field},
            )
    _check_metric_field(place, question)


def _check_metric_field(place: str, question: Question) -> None:
    if question.metric is None:
        return
    own = question.type in SCALES and question.metric == question.type
    stars = question.type == "rating" and question.metric == "csat" and question.scale() == (1, 5)
    if not (own or stars):
        raise SurveyError(
            f"{place}.metric",
            _(
                "Question “%(id)s” (%(title)s) cannot feed %(metric)s: a CSAT, NPS or CES "
                "question feeds its own metric, and a rating of 5 stars may feed CSAT."
            )
            % {**_named(question), "metric": question.metric.upper()},
        )


def _check_pages(doc: SurveyDocument) -> None:
    numbers = pages(doc)
    for index in range(1, len(numbers)):
        if numbers[index] < numbers[index - 1]:
            raise SurveyError(
                f"questions.{index}.page",
                _(
                    "Question “%(id)s” (%(title)s) is on page %(page)s, before the page of the "
                    "question above it (%(previous)s): pages cannot go back."
                )
                % {
                    **_named(doc.questions[index]),
                    "page": numbers[index],
                    "previous": numbers[index - 1],
                },
            )


def _check_jumps(doc: SurveyDocument, index: int, question: Question) -> None:
    for number, jump in enumerate(question.jumps):
        place = f"questions.{index}.jumps.{number}"
        _check_target(doc, index, question, jump, place)
        _check_condition(question, jump, place)
    answers = possible_answers(question)
    for number, jump in enumerate(question.jumps):
        taken = any(_first_jump(question, answer) is jump for answer in answers)
        if not taken:
            raise SurveyError(
                f"questions.{index}.jumps.{number}",
                _(
                    "Question “%(id)s” (%(title)s): jump %(number)s is never taken, because the "
                    "jumps before it already take every answer it matches."
                )
                % {**_named(question), "number": number + 1},
            )


def _first_jump(question: Question, answer: Any) -> Jump | None:
    return next((jump for jump in question.jumps if matches(question, jump, answer)), None)


def _check_target(
    doc: SurveyDocument, index: int, question: Question, jump: Jump, place: str
) -> None:
    if jump.goto == END:
        return
    try:
        target = doc.index_of(jump.goto)
    except KeyError:
        raise SurveyError(
            f"{place}.goto",
            _("Question “%(id)s” (%(title)s) jumps to “%(target)s”, which is not a question here.")
            % {**_named(question), "target": jump.goto},
        ) from None
    if target <= index:
        raise SurveyError(
            f"{place}.goto",
            _(
                "Question “%(id)s” (%(title)s) jumps back to “%(target)s”: jumps only go "
                "forward, so that nobody answers in circles."
            )
            % {**_named(question), "target": jump.goto},
        )


def _check_condition(question: Question, jump: Jump, place: str) -> None:
    """The operator suits the question's type and every value is an answer it can have."""
    condition = jump.condition()
    if condition is None:
        return
    op, expected = condition
    named = _named(question)
    if not question.answers():
        raise SurveyError(
            f"{place}.when",
            _(
                "Question “%(id)s” (%(title)s) is a %(type)s question: its jumps cannot look at "
                "the answer, only a jump without “when” (always taken) fits here."
            )
            % {**named, "type": QUESTION_TYPES[question.type]},
        )
    if question.type in CHOICE and op in ("lte", "gte"):
        raise SurveyError(
            f"{place}.when",
            _("Question “%(id)s” (%(title)s): a choice jumps on equals or in, not “%(op)s”.")
            % {**named, "op": op},
        )
    if isinstance(expected, list) != (op == "in"):
        raise SurveyError(
            f"{place}.when",
            _(
                "Question “%(id)s” (%(title)s): “in” takes a list of answers; equals, lte and "
                "gte take one answer."
            )
            % named,
        )
    for value in expected if isinstance(expected, list) else [expected]:
        _check_value(question, value, place, named)


def _check_value(question: Question, value: Any, place: str, named: dict[str, Any]) -> None:
    scale = question.scale()
    if scale is not None:
        if not (_is_int(value) and scale[0] <= value <= scale[1]):
            raise SurveyError(
                f"{place}.when",
                _(
                    "Question “%(id)s” (%(title)s) is answered from %(low)s to %(high)s; a jump "
                    "on “%(value)s” can never be taken."
                )
                % {**named, "low": scale[0], "high": scale[1], "value": value},
            )
    elif value not in [option.value for option in question.options or []]:
        raise SurveyError(
            f"{place}.when",
            _("Question “%(id)s” (%(title)s) has no option “%(value)s” to jump on.")
            % {**named, "value": value},
        )


def _check_metrics(doc: SurveyDocument) -> None:
    feeding: dict[str, Question] = {}
    for index, question in enumerate(doc.questions):
        metric = question.feeds()
        if metric is None:
            continue
        if metric in feeding:
            raise SurveyError(
                f"questions.{index}",
                _(
                    "Question “%(id)s” (%(title)s) feeds %(metric)s, and so does question "
                    "“%(other)s”: a questionnaire has one question per metric."
                )
                % {**_named(question), "metric": metric.upper(), "other": feeding[metric].id},
            )
        feeding[metric] = question


def _check_reachable(doc: SurveyDocument) -> None:
    seen = reachable(doc)
    for index, question in enumerate(doc.questions):
        if question.id not in seen:
            raise SurveyError(
                f"questions.{index}",
                _(
                    "Question “%(id)s” (%(title)s) can never be reached: the jumps before it "
                    "send every answer past it."
                )
                % _named(question),
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
