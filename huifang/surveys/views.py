"""The answer page (填写问卷): a customer's personal link, no login — the signed link is the key.

Server-rendered forms without script, in the customer's language. GET shows the screen the
respondent is at (``?q=`` names its first question); POST checks the screen and stores it, then
redirects to the next screen or, at the end, submits and redirects to the thank-you page. A
submitted link shows the answers read-only. Expired: 410; not ours: 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from huifang.accounts.permissions import public
from huifang.core.throttle import allow

from .answering import (
    answer_screen,
    arrival,
    document_of,
    path,
    posted_values,
    read,
    readable,
    screen,
    stored_values,
)
from .document import Question, SurveyDocument, next_question
from .links import lifetime, open_link
from .models import Response

# Writes one link may make in ten minutes: a hundred-question questionnaire fits, a script
# hammering a link does not.
POSTS_PER_WINDOW, WINDOW_SECONDS = 60, 600


@dataclass
class Field:
    """One question as the page shows it."""

    question: Question
    value: Any
    error: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # a matrix: name, label, chosen


def screen_fields(
    questions: list[Question], values: dict[str, Any], errors: dict[str, str]
) -> list[Field]:
    """The questions of a screen as ``surveys/_question.html`` shows them (here, and on the
    agent's task page for a phone survey)."""
    shown = []
    for question in questions:
        scale = question.scale()
        if scale is not None:
            choices = [(str(n), str(n)) for n in range(scale[0], scale[1] + 1)]
        else:
            choices = [(o.value, o.label) for o in question.options or question.columns or []]
        value = values[question.id]
        rows = [
            (f"{question.id}.{row.value}", row.label, value.get(row.value, ""))
            for row in question.rows or []
        ]
        shown.append(Field(question, value, errors.get(question.id, ""), choices, rows))
    return shown


def _private(response: HttpResponse) -> HttpResponse:
    # The page holds the customer's answers; the token in its address stays ours.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


# The signed link is the credential, as on the unsubscribe page: there is no session or cookie
# to ride on, and a forged request would need the token it is meant to protect.
@public("the signed, expiring token in the URL names the respondent")
@csrf_exempt
@require_http_methods(["GET", "POST"])
def answer_page(request: HttpRequest, token: str) -> HttpResponse:
    if request.user.is_authenticated:
        # A member of staff who opens a customer's link (from a message on the timeline) must
        # neither answer for the customer nor start their response: phone answers are taken
        # on the task page, and a questionnaire is tried in the builder's preview.
        return _private(render(request, "surveys/staff.html", status=403))
    opened = open_link(token)
    if opened.customer is None:
        return _private(render(request, "surveys/invalid.html", status=404))
    with translation.override(opened.customer.language or None):
        if opened.response is None:
            page = render(request, "surveys/expired.html", {"days": lifetime().days}, status=410)
            return _private(page)
        response = opened.response
        doc = document_of(response)
        if request.method == "POST":
            return _private(_post(request, response, doc))
        return _private(_get(request, response, doc))


def _get(request: HttpRequest, response: Response, doc: SurveyDocument) -> HttpResponse:
    if response.submitted_at is not None:
        return _answered(request, response, doc, thanks="done" in request.GET)
    first = arrival(doc, response.answers, request.GET.get("q"))
    questions = screen(doc, first)
    values = stored_values(questions, response.answers)
    return _screen(request, doc, first, screen_fields(questions, values, {}))


def _post(request: HttpRequest, response: Response, doc: SurveyDocument) -> HttpResponse:
    if not allow("survey-post", str(response.pk), limit=POSTS_PER_WINDOW, window=WINDOW_SECONDS):
        return render(request, "surveys/throttled.html", status=429)
    if response.submitted_at is not None:
        return HttpResponseRedirect(request.path, status=303)
    asked = request.POST.get("q")
    first = arrival(doc, response.answers, asked)
    if first != asked:  # a screen no longer on the respondent's path: show where they are
        return HttpResponseRedirect(request.path, status=303)
    questions = screen(doc, first)
    answers, errors = read(questions, request.POST)
    if errors:
        values = posted_values(questions, request.POST)
        return _screen(request, doc, first, screen_fields(questions, values, errors))
    following = answer_screen(response, doc, answers, now=timezone.now())
    query = {"done": "1"} if following is None else {"q": following}
    return HttpResponseRedirect(f"{request.path}?{urlencode(query)}", status=303)


def _screen(
    request: HttpRequest, doc: SurveyDocument, first: str, fields: list[Field]
) -> HttpResponse:
    context = {
        "doc": doc,
        "first": first,
        "fields": fields,
        "at_start": first == doc.questions[0].id,
        "invalid": any(f.error for f in fields),
        "last": ends_after(doc, fields[-1].question),
    }
    return render(request, "surveys/answer.html", context)


def ends_after(doc: SurveyDocument, question: Question) -> bool:
    """Whether the questionnaire ends after ``question`` whatever the answer: "Submit"."""
    fixed = not any(jump.when for jump in question.jumps)
    return fixed and next_question(doc, question.id, None) is None


def answered(doc: SurveyDocument, response: Response) -> list[tuple[str, str]]:
    """Each answered question on the respondent's path, as (title, answer as chosen)."""
    by_id = {question.id: question for question in doc.questions}
    return [
        (by_id[q].title, readable(by_id[q], response.answers[q]))
        for q in path(doc, response.answers)
        if q in response.answers
    ]


def _answered(
    request: HttpRequest, response: Response, doc: SurveyDocument, *, thanks: bool
) -> HttpResponse:
    """The thank-you page right after submitting; later visits show the answers read-only."""
    context = {"doc": doc, "answered": answered(doc, response), "thanks": thanks}
    return render(request, "surveys/answered.html", context)
