"""The results page of a questionnaire (问卷结果), its exports and the tags on text answers.

Anyone who may read questionnaires (``("survey", "view")``) reads the figures; the exports,
which put every answer with its customer in one file, need ``("survey", "export")``; tagging a
text answer is a change of data, so it needs ``("survey", "edit")`` and is audited. The
figures themselves are counted in ``survey_figures``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from huifang.accounts.models import Team
from huifang.accounts.permissions import can, requires
from huifang.audit.models import Entry
from huifang.audit.services import record
from huifang.customers.models import Channel
from huifang.customers.phones import mask_phone
from huifang.organisation.zones import organisation_zone
from huifang.rules.models import Rule
from huifang.surveys.models import Answer, AnswerTag, Survey

from . import survey_export
from .dashboard import PeriodError
from .survey_figures import (
    GRAINS,
    PRESETS,
    TEXT_TYPES,
    FilterError,
    Filters,
    cut,
    funnel,
    overall,
    per_question,
    questions_of,
    read_filters,
    text_answers,
    trend,
)

readers = requires("survey", "view")
exporters = requires("survey", "export")
taggers = requires("survey", "edit")

TAG_LENGTH = 40


@readers
def results(request: HttpRequest, key: str) -> HttpResponse:
    survey = get_object_or_404(Survey, key=key)
    now = timezone.now()
    context: dict[str, Any] = {
        "survey": survey,
        "error": "",
        "custom_from": request.GET.get("from", ""),
        "custom_to": request.GET.get("to", ""),
        "filters": None,
        "presets": [
            {"label": label, "url": f"?period={key}", "active": False}
            for key, label in PRESETS.items()
        ],
    }
    try:
        filters = read_filters(survey, request.GET, now)
    except (FilterError, PeriodError) as exc:
        context["error"] = str(exc)
        return render(request, "studio/surveys/results.html", context, status=400)
    context.update(_page(request, filters))
    return render(request, "studio/surveys/results.html", context)


def _page(request: HttpRequest, filters: Filters) -> dict[str, Any]:
    grain = request.GET.get("grain", "day")
    grain = grain if grain in GRAINS else "day"
    search = request.GET.get("q", "").strip()[:100]
    tag = request.GET.get("tag", "").strip()[:TAG_LENGTH]
    scores = overall(filters)
    questions = questions_of(filters)
    total_texts, texts = text_answers(filters, questions, search, tag)
    titles = {q.id: q.title for q in questions}
    for answer in texts:
        customer = answer.response.customer
        answer.title = titles.get(answer.question, answer.question)  # type: ignore[attr-defined]
        answer.phone_masked = mask_phone(customer.phone) if customer and customer.phone else ""  # type: ignore[attr-defined]
    cuts = {by: cut(filters, by) for by in ("rule", "team", "channel", "region")}
    rule_names = dict(Rule.objects.values_list("id", "name"))
    team_names = dict(Team.objects.values_list("id", "name"))
    channel_names = dict(Channel.choices)
    points = trend(filters, grain)

    def name_of(by: str, key: tuple[Any, ...]) -> str:
        return _cut_label(by, key, rule_names, team_names, channel_names)

    return {
        "filters": filters,
        "query": filters.query(),
        "filter_params": parse_qsl(filters.query()),
        "presets": [
            {
                "label": label,
                "url": "?" + filters.query(period=key),
                "active": key == filters.period.key,
            }
            for key, label in PRESETS.items()
        ],
        "custom_from": filters.period.first.isoformat(),
        "custom_to": filters.period.last.isoformat(),
        "grain": grain,
        "grains": [
            {"label": label, "url": "?" + filters.query(grain=key), "active": key == grain}
            for key, (label, _trunc) in GRAINS.items()
        ],
        "zone": str(settings.TIME_ZONE),
        "rules": sorted(rule_names.items(), key=lambda item: item[1]),
        "teams": sorted(team_names.items(), key=lambda item: item[1]),
        "channels": Channel.choices,
        "regions": sorted({values for values, _s in cuts["region"] if values[0]}),
        "funnel": funnel(filters, scores),
        "scores": scores,
        "questions": per_question(
            filters, [q for q in questions if q.type not in TEXT_TYPES and q.type != "date"]
        ),
        "has_texts": any(q.type in TEXT_TYPES for q in questions),
        "texts": texts,
        "total_texts": total_texts,
        "search": search,
        "tag": tag,
        "tags": sorted(
            set(
                AnswerTag.objects.filter(answer__version_id__in=filters.version_ids)
                .values_list("name", flat=True)
                .distinct()[:200]
            )
        ),
        "cuts": [
            (
                by,
                _cut_title(by),
                [
                    (_cut_label(by, key, rule_names, team_names, channel_names), s)
                    for key, s in rows
                ],
            )
            for by, rows in cuts.items()
        ],
        "chart": _chart(points, grain),
        "can_tag": can(request.user, "survey", "edit"),
        "can_export": can(request.user, "survey", "export"),
        "can_reveal": can(request.user, "customer", "reveal"),
    }


def _cut_title(by: str) -> str:
    return {
        "rule": _("By strategy"),
        "team": _("By team"),
        "channel": _("By channel"),
        "region": _("By region"),
    }[by]


def _cut_label(
    by: str,
    key: tuple[Any, ...],
    rules: dict[int, str],
    teams: dict[int, str],
    channels: dict[str, Any],
) -> str:
    value = key[0]
    if by == "region":
        return " ".join(part for part in key if part) or _("Unknown")
    if value in (None, ""):
        return {"rule": _("No strategy"), "team": _("No team"), "channel": _("Unknown")}[by]
    if by == "rule":
        return rules.get(value, f"#{value}")
    if by == "team":
        return teams.get(value, f"#{value}")
    return str(channels.get(value, value))


def _chart(points: list[Any], grain: str) -> dict[str, Any]:
    zone = organisation_zone()
    form = {"day": "Y-m-d", "week": "Y-m-d", "month": "Y-m"}[grain]

    def label(at: datetime) -> str:
        local = at.astimezone(zone) if timezone.is_aware(at) else at
        return formats.date_format(local, form)

    def rounded(value: float | None) -> float | None:
        return round(value, 1) if value is not None else None

    return {
        "dates": [label(p.bucket) for p in points],
        "answered": [p.scores.answered for p in points],
        "csat": [rounded(p.scores.csat) for p in points],
        "nps": [rounded(p.scores.nps) for p in points],
        "names": {"answered": _("Answered"), "csat": _("CSAT %"), "nps": _("NPS")},
        "empty": _("No answers in this period."),
    }


# -- exports -------------------------------------------------------------------------------------


@exporters
def export(request: HttpRequest, key: str, kind: str) -> HttpResponseBase:
    if kind not in ("csv", "xlsx"):
        raise Http404
    survey = get_object_or_404(Survey, key=key)
    try:
        filters = read_filters(survey, request.GET, timezone.now())
    except (FilterError, PeriodError) as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    reveal = request.GET.get("reveal") == "1"
    if reveal and not can(request.user, "customer", "reveal"):
        raise PermissionDenied(_("You may not export personal details in full."))
    made = survey_export.export(filters, kind, reveal=reveal)
    record(
        Entry.Action.EXPORT,
        f"survey results ({kind})",
        request=request,
        target=survey,
        details={
            "format": kind,
            "filters": filters.query(),
            "rows": made.rows,
            "revealed": reveal,
        },
    )
    if reveal:  # every phone number of the file shown in full: a reveal of its own
        record(
            Entry.Action.REVEAL,
            "export",
            request=request,
            target=survey,
            details={"where": f"survey results ({kind})", "rows": made.rows},
        )
    return made.response


# -- tags ----------------------------------------------------------------------------------------


@taggers
def tag_answer(request: HttpRequest, key: str, pk: int) -> HttpResponse:
    """Add (``name``) or remove (``remove``) a tag on a text answer of this questionnaire."""
    if request.method != "POST":
        return HttpResponse(status=405, headers={"Allow": "POST"})
    survey = get_object_or_404(Survey, key=key)
    answer = get_object_or_404(
        Answer.objects.select_related("version"), pk=pk, version__survey=survey
    )
    error = ""
    removing = request.POST.get("remove", "").strip()
    name = " ".join(request.POST.get("name", "").split())
    if removing:
        deleted, _rows = AnswerTag.objects.filter(answer=answer, name=removing).delete()
        if deleted:
            _audit(request, answer, "untag", removing)
    elif not name:
        error = _("Type a tag.")
    elif len(name) > TAG_LENGTH:
        error = _("A tag is at most %(n)s characters.") % {"n": TAG_LENGTH}
    else:
        try:
            with transaction.atomic():
                AnswerTag.objects.create(
                    answer=answer, name=name, created_by=request.user.get_username()
                )
                _audit(request, answer, "tag", name)
        except IntegrityError:
            pass  # already tagged so: nothing to change
    if not request.headers.get("HX-Request"):
        if error:
            return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
        back = request.POST.get("back", "")
        return redirect(reverse("rules:survey_results", args=[survey.key]) + f"?{back}#texts")
    context = {
        "survey": survey,
        "answer": answer,
        "can_tag": True,
        "tag_error": error,
        "query": request.POST.get("back", ""),
    }
    return render(request, "studio/surveys/_tags.html", context, status=400 if error else 200)


def _audit(request: HttpRequest, answer: Answer, verb: str, name: str) -> None:
    record(
        Entry.Action.SURVEY,
        "answer tagged" if verb == "tag" else "answer untagged",
        request=request,
        target=answer,
        details={"tag": name, "question": answer.question, "response": answer.response_id},
    )
