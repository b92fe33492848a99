"""Answering a questionnaire, screen by screen: what the answer page shows, reads and stores.

A **screen** is one page of the document as the respondent meets it: from the question they
arrive at, the questions of that page in order — up to and including the first one whose jumps
look at the answer, because without script the page cannot know yet where that answer leads.
So nobody sees a question their own answer skips, and what follows a screen is always
``next_question`` of its last question: another screen, or the end.

A respondent's **path** is where the stored answers lead from the first question; a screen is
shown only when it starts on that path. Each screen's answers are checked together and stored
only when all of them are valid; submitting keeps the answers on the final path (one changed
on the way back may have sent the respondent elsewhere), sets the response's metrics and
records one ``survey_answered`` event, in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.http import QueryDict
from django.utils.translation import gettext as _

from huifang.core.limits import EARLIEST_DAY, LATEST_DAY
from huifang.customers.events import record_events
from huifang.customers.models import Customer, Event

from .document import CHOICE, Question, SurveyDocument, next_question, pages
from .models import CHOICE_LENGTH, Answer, Response, SurveyVersion

TEXT_MAX = {"text": 200, "long_text": 2000}
EVENT = "survey_answered"


def document_of(response: Response) -> SurveyDocument:
    """The version's document: checked completely when it was saved, so only read here."""
    return SurveyDocument.model_validate(response.version.content)


def path(doc: SurveyDocument, answers: Mapping[str, Any], *, so_far: bool = False) -> list[str]:
    """The ids of the questions ``answers`` lead through, from the first to the end; with
    ``so_far``, only up to the first required question not answered yet (nobody gets past
    it, not even by typing a later screen's address)."""
    ids: list[str] = []
    current: str | None = doc.questions[0].id
    while current is not None:
        ids.append(current)
        if (
            so_far
            and answers.get(current) is None
            and doc.questions[doc.index_of(current)].required
        ):
            break
        current = next_question(doc, current, answers.get(current))
    return ids


def screen(doc: SurveyDocument, first: str) -> list[Question]:
    """The questions shown together when a respondent arrives at ``first``."""
    numbers = pages(doc)
    page = numbers[doc.index_of(first)]
    shown: list[Question] = []
    current: str | None = first
    while current is not None and numbers[doc.index_of(current)] == page:
        question = doc.questions[doc.index_of(current)]
        shown.append(question)
        if any(jump.when for jump in question.jumps):
            break  # where it leads depends on the answer not given yet
        current = next_question(doc, current, None)
    return shown


def arrival(doc: SurveyDocument, answers: Mapping[str, Any], asked: str | None) -> str:
    """The question a screen starts at: ``asked`` when it is on the respondent's path, else
    the first question (an old bookmark, a changed answer, a made-up address)."""
    reached = path(doc, answers, so_far=True)
    return asked if asked is not None and asked in reached else doc.questions[0].id


# -- reading a posted screen ----------------------------------------------------------------------


def read(questions: list[Question], data: QueryDict) -> tuple[dict[str, Any], dict[str, str]]:
    """Each question's answer (``None``: not answered) and the errors, by question id."""
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for question in questions:
        try:
            value = _value(question, data)
        except ValueError as exc:
            errors[question.id] = str(exc)
            continue
        if value is None and question.required:
            errors[question.id] = _("Please answer this question.")
        answers[question.id] = value
    return answers, errors


def _value(question: Question, data: QueryDict) -> Any:
    kind = question.type
    if kind == "multiple_choice":
        return _chosen(question, data.getlist(question.id))
    if kind == "matrix":
        return _matrix(question, data)
    raw = data.get(question.id, "").replace("\x00", "").strip()
    if not raw:
        return None
    if kind == "single_choice":
        if raw not in [option.value for option in question.options or []]:
            raise ValueError(_("Choose one of the options."))
        return raw
    if kind in TEXT_MAX:
        if len(raw) > TEXT_MAX[kind]:
            raise ValueError(_("Write at most %(count)s characters.") % {"count": TEXT_MAX[kind]})
        return raw
    if kind == "date":
        return _day(raw)
    return _number(question, raw)


def _chosen(question: Question, raw: list[str]) -> list[str] | None:
    values = [option.value for option in question.options or []]
    if any(value not in values for value in raw if value):
        raise ValueError(_("Choose among the options."))
    chosen = [value for value in values if value in raw]
    return chosen or None


def _matrix(question: Question, data: QueryDict) -> dict[str, str] | None:
    columns = [column.value for column in question.columns or []]
    answer: dict[str, str] = {}
    for row in question.rows or []:
        raw = data.get(f"{question.id}.{row.value}", "")
        if raw and raw not in columns:
            raise ValueError(_("Choose one of the options in every row."))
        if raw:
            answer[row.value] = raw
    if question.required and answer and len(answer) < len(question.rows or []):
        raise ValueError(_("Answer every row."))
    return answer or None


def _day(raw: str) -> str:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError(_("Enter a date like 2026-11-02.")) from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise ValueError(_("Enter a date like 2026-11-02.")) from None
    return day.isoformat()


def _number(question: Question, raw: str) -> int:
    low, high = question.scale() or (0, 0)
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise ValueError(
            _("Choose a number from %(low)s to %(high)s.") % {"low": low, "high": high}
        )
    return int(raw)


# -- storing --------------------------------------------------------------------------------------


def store(response: Response, answers: Mapping[str, Any]) -> None:
    """Keep a valid screen's answers on the response and as ``Answer`` rows; a question left
    empty loses the answer it had."""
    kept = dict(response.answers)
    for question, value in answers.items():
        if value is None:
            kept.pop(question, None)
        else:
            kept[question] = value
    response.answers = kept
    response.save(update_fields=["answers"])
    cleared = [question for question, value in answers.items() if value is None]
    if cleared:
        Answer.objects.filter(response=response, question__in=cleared).delete()
    Answer.objects.bulk_create(
        answer_rows(response, answers),
        update_conflicts=True,
        unique_fields=["response", "question"],
        update_fields=["value", "number", "choice", "submitted_at"],
    )


def answer_rows(response: Response, answers: Mapping[str, Any]) -> list[Answer]:
    """The ``Answer`` rows of a response's answers (unanswered ones left out): the one place
    they are built, for the answer page and for loads that write many responses at once
    (the demo)."""
    return [
        Answer(
            response=response,
            version_id=response.version_id,
            question=question,
            value=value,
            number=float(value) if isinstance(value, int) else None,
            choice=value if isinstance(value, str) and len(value) <= CHOICE_LENGTH else None,
            submitted_at=response.submitted_at,
        )
        for question, value in answers.items()
        if value is not None
    ]


def submit(response: Response, doc: SurveyDocument, *, now: datetime) -> None:
    """Close the response (the caller holds its row lock, in a transaction): the answers off
    the final path dropped, its metrics set, one ``survey_answered`` event for the customer."""
    scores = _close(response, doc, now=now)
    if response.customer_id is None:
        return  # the customer was deleted while answering: nobody's timeline to put it on
    version = response.version
    event = Event(
        customer_id=response.customer_id,
        type=EVENT,
        occurred_at=now,
        source=Event.Source.SYSTEM,
        properties={
            "survey": version.survey.key,
            "version": version.number,
            "response": response.pk,
            # The message whose link was answered (a reply to it, as the rule dashboard and
            # the metrics count replies), or the task whose call took the answers.
            **({"message": response.message_id} if response.message_id is not None else {}),
            **({"task": response.task_id} if response.task_id is not None else {}),
            **scores,
        },
        idempotency_key=f"{EVENT}:{response.pk}",
    )
    record_events([event], now=now)


def _close(response: Response, doc: SurveyDocument, *, now: datetime) -> dict[str, Any]:
    """Keep the answers on the final path, set the response's metrics and submit it (once:
    a response submitted already keeps its moment); returns the metrics."""
    on_path = set(path(doc, response.answers))
    off_path = [question for question in response.answers if question not in on_path]
    if off_path:
        Answer.objects.filter(response=response, question__in=off_path).delete()
    response.answers = {q: v for q, v in response.answers.items() if q in on_path}
    scores = metrics(doc, response.answers)
    response.csat, response.nps, response.ces = (scores.get(m) for m in ("csat", "nps", "ces"))
    response.submitted_at = response.submitted_at or now
    response.save(update_fields=["answers", "csat", "nps", "ces", "submitted_at"])
    # The results count a period's answers by their own copy of the moment.
    Answer.objects.filter(response=response).update(submitted_at=response.submitted_at)
    return scores


def metrics(doc: SurveyDocument, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The metric scores (``csat``, ``nps``, ``ces``) the answers give, by the questions that
    feed each metric: what a submitted response stores as its scores."""
    return {
        metric: answers[question.id]
        for question in doc.questions
        if (metric := question.feeds()) and question.id in answers
    }


def record_scored_reply(
    version: SurveyVersion,
    customer: Customer,
    metric: str,
    score: int,
    *,
    channel: str,
    message_id: int,
    now: datetime,
) -> Response | None:
    """A reply by SMS / e-mail that is a score (``5``, ``满意``), to a message carrying this
    questionnaire, as the answer to the version's first question of that metric: the one
    response for (version, customer, message) is created or continued, the answer stored
    and the response submitted. ``None`` when the version asks no such question.

    No event is recorded here: the caller records the reply itself as the one
    ``survey_answered`` event. A later reply replaces the score it answered before, as a
    second visit to the answer page would."""
    doc = SurveyDocument.model_validate(version.content)
    question = next((q for q in doc.questions if q.feeds() == metric), None)
    if question is None:
        return None
    with transaction.atomic():
        response, _created = Response.objects.select_for_update().get_or_create(
            version=version,
            customer=customer,
            message_id=message_id,
            defaults={"channel": channel, "started_at": now},
        )
        store(response, {question.id: score})
        _close(response, doc, now=now)
    return response


def answer_screen(
    response: Response, doc: SurveyDocument, answers: Mapping[str, Any], *, now: datetime
) -> str | None:
    """Store a valid screen and return where the respondent goes next; ``None`` when the
    questionnaire ended and the response was submitted. Nothing changes for a response
    submitted already (a second tab, a replayed request)."""
    last = list(answers)[-1]
    with transaction.atomic():
        locked = Response.objects.select_for_update().select_related("version__survey")
        current = locked.get(pk=response.pk)
        if current.submitted_at is not None:
            return None
        store(current, answers)
        following = next_question(doc, last, answers[last])
        if following is None:
            submit(current, doc, now=now)
    return following


# -- showing --------------------------------------------------------------------------------------


def stored_values(questions: list[Question], answers: Mapping[str, Any]) -> dict[str, Any]:
    """What each question shows as chosen or written, from the stored answers: as text, the
    way the form sends it."""
    values: dict[str, Any] = {}
    for question in questions:
        value = answers.get(question.id)
        if question.type == "matrix":
            values[question.id] = {row: str(column) for row, column in (value or {}).items()}
        elif question.type == "multiple_choice":
            values[question.id] = [str(chosen) for chosen in value or []]
        else:
            values[question.id] = "" if value is None else str(value)
    return values


def posted_values(questions: list[Question], data: QueryDict) -> dict[str, Any]:
    """What each question shows when the screen comes back with errors: what was sent."""
    values: dict[str, Any] = {}
    for question in questions:
        if question.type == "matrix":
            rows = question.rows or []
            values[question.id] = {r.value: data.get(f"{question.id}.{r.value}", "") for r in rows}
        elif question.type == "multiple_choice":
            values[question.id] = data.getlist(question.id)
        else:
            values[question.id] = data.get(question.id, "")
    return values


def readable(question: Question, value: Any) -> str:
    """A stored answer as the respondent chose it: option labels rather than values."""
    if question.type in CHOICE:
        labels = {option.value: option.label for option in question.options or []}
        chosen = value if isinstance(value, list) else [value]
        return _(", ").join(labels.get(v, str(v)) for v in chosen)
    if question.type == "matrix" and isinstance(value, dict):
        rows = {row.value: row.label for row in question.rows or []}
        columns = {column.value: column.label for column in question.columns or []}
        return _("; ").join(
            _("%(row)s: %(column)s") % {"row": rows.get(r, r), "column": columns.get(c, c)}
            for r, c in value.items()
        )
    return str(value)
