"""The questionnaire builder (问卷): the list, the builder with its phone-width preview, the
status switch and the gallery of ready questionnaires.

The builder follows the rule builder: every change posts the whole form (htmx) and the form
comes back, so nothing typed is lost. Unlike a rule, a questionnaire keeps no working copy on
the server: "Save" checks the document with ``parse_survey`` and writes a new, immutable
version (``save_survey``, audited); a refused save answers with the form as typed and the
problem next to the question it names. Viewers see the same page read-only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import transaction
from django.db.models import Count, Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huifang.accounts.permissions import can, requires
from huifang.audit import services as audit
from huifang.surveys.answering import screen
from huifang.surveys.document import (
    QUESTION_TYPES,
    SurveyDocument,
    SurveyError,
    dump_survey,
    parse_survey,
)
from huifang.surveys.models import Survey, SurveyVersion
from huifang.surveys.services import library_documents, save_survey
from huifang.surveys.views import ends_after, screen_fields

from . import survey_form
from .form import KEY

viewers = requires("survey", "view")
builders = requires("survey", "view", post="edit")


def can_edit(user: Any) -> bool:
    return can(user, "survey", "edit")


def results_url(key: str) -> str:
    """The questionnaire's results page."""
    return reverse("rules:survey_results", args=[key])


# -- the list -----------------------------------------------------------------------------------


@viewers
def survey_list(request: HttpRequest) -> HttpResponse:
    answered = Q(versions__responses__submitted_at__isnull=False)
    surveys = list(
        Survey.objects.select_related("current_version")
        .annotate(
            n_answered=Count("versions__responses", filter=answered),
            last_answered=Max("versions__responses__submitted_at"),
        )
        .order_by("status", "name")
    )
    for survey in surveys:
        survey.results_url = results_url(survey.key)  # type: ignore[attr-defined]
    context = {"surveys": surveys, "can_edit": can_edit(request.user)}
    return render(request, "studio/surveys/list.html", context)


# -- the builder --------------------------------------------------------------------------------


def starter(key: str = "", name: str = "") -> dict[str, Any]:
    document: dict[str, Any] = {"key": key, "name": name, "questions": []}
    document["questions"].append(survey_form.new_question(document, "csat"))
    return document


@builders
def survey_new(request: HttpRequest) -> HttpResponse:
    """An empty questionnaire in the builder; it exists once saved."""
    if request.method != "POST":
        return _page(request, None, starter())
    key = request.POST.get("key", "").strip().lower()
    return _post(request, None, key)


@builders
def survey_edit(request: HttpRequest, key: str) -> HttpResponse:
    survey = get_object_or_404(Survey, key=key)
    if request.method != "POST":
        version = survey.latest_version()
        document = dict(version.content) if version else starter(survey.key, survey.name)
        return _page(request, survey, document)
    return _post(request, survey, survey.key)


def _post(request: HttpRequest, survey: Survey | None, key: str) -> HttpResponse:
    document = survey_form.document_from_form(request.POST, key=key)
    action = request.POST.get("action", "")
    if action == "save":
        return _save(request, survey, document)
    notice = ""
    if action:
        try:
            survey_form.apply_action(document, action)
        except survey_form.ActionError:
            notice = _("That change could not be made; the form was reloaded.")
    response = _fragment(request, survey, document, {}, notice=notice)
    response["HX-Trigger"] = "survey-changed"
    return response


def _save(request: HttpRequest, survey: Survey | None, document: dict[str, Any]) -> HttpResponse:
    key = document["key"]
    problem: tuple[str, str] | None = None
    if survey is None and not KEY.match(key):
        problem = (
            "key",
            _(
                "A key is 2–80 lowercase letters, digits and hyphens, starting with a letter "
                "or digit."
            ),
        )
    elif survey is None and Survey.objects.filter(key=key).exists():
        problem = ("key", _("A questionnaire with the key “%(key)s” exists.") % {"key": key})
    parsed: SurveyDocument | None = None
    if problem is None:
        try:
            parsed = parse_survey(document)
        except SurveyError as exc:
            problem = (exc.field, exc.message)
    if problem is not None or parsed is None:
        field, message = problem or ("", "")
        errors = survey_form.error_places(field, message)
        notice = _("Not saved: fix the problem marked below. Nothing you typed was lost.")
        return _fragment(request, survey, document, errors, notice=notice)
    note = request.POST.get("note", "").strip()
    with transaction.atomic():
        saved = save_survey(parsed, user=request.user, note=note)
        target = saved.survey
        if saved.changed and target.status == Survey.Status.ACTIVE:
            # An active questionnaire sends what was just saved.
            target.current_version = saved.version
            target.save(update_fields=["current_version", "updated_at"])
    if saved.changed:
        messages.success(
            request, _("Saved as version %(number)s.") % {"number": saved.version.number}
        )
    else:
        messages.info(
            request,
            _("Nothing changed since version %(number)s.") % {"number": saved.version.number},
        )
    url = reverse("rules:survey_edit", kwargs={"key": target.key})
    return HttpResponse(status=204, headers={"HX-Redirect": url})


def _context(
    request: HttpRequest,
    survey: Survey | None,
    document: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    notice: str = "",
) -> dict[str, Any]:
    versions: list[SurveyVersion] = []
    answered_latest = False
    if survey is not None:
        versions = list(
            survey.versions.select_related("created_by")
            .annotate(
                n_answered=Count("responses", filter=Q(responses__submitted_at__isnull=False)),
                n_started=Count("responses"),
            )
            .order_by("-number")
        )
        answered_latest = bool(versions and versions[0].n_started)  # type: ignore[attr-defined]
    return {
        "survey": survey,
        "doc": document,
        "questions": survey_form.question_views(document),
        "errors": errors,
        "problems": errors.get("", []),
        "notice": notice,
        "types": list(QUESTION_TYPES.items()),
        "stars": range(3, 11),
        "versions": versions,
        "answered_latest": answered_latest,
        "statuses": Survey.Status.choices,
        "readonly": not can_edit(request.user),
        "action_url": reverse("rules:survey_edit", kwargs={"key": survey.key})
        if survey
        else reverse("rules:survey_new"),
    }


def _page(request: HttpRequest, survey: Survey | None, document: dict[str, Any]) -> HttpResponse:
    context = _context(request, survey, document, {})
    context["preview"] = preview_context(document, "")
    return render(request, "studio/surveys/builder.html", context)


def _fragment(
    request: HttpRequest,
    survey: Survey | None,
    document: dict[str, Any],
    errors: dict[str, list[str]],
    *,
    notice: str = "",
) -> HttpResponse:
    context = _context(request, survey, document, errors, notice=notice)
    return render(request, "studio/surveys/_builder.html", context)


# -- the preview --------------------------------------------------------------------------------


def preview_context(document: dict[str, Any], start: str) -> dict[str, Any]:
    """The answer page for ``document`` as a respondent meets it at question ``start`` (the
    first when not one of its questions): rendered here, never saved, never answered."""
    problem = ""
    try:
        doc = parse_survey(document)
    except SurveyError as exc:
        problem = exc.message
        try:  # shown as far as it can be: a logic problem still lets every question show
            doc = SurveyDocument.model_validate(document)
        except Exception:
            return {"problem": problem, "html": "", "ids": []}
    ids = [(q.id, q.title) for q in doc.questions]
    first = start if start in {q.id for q in doc.questions} else doc.questions[0].id
    questions = screen(doc, first)
    fields = screen_fields(questions, {q.id: _empty(q.type) for q in questions}, {})
    html = render_to_string(
        "studio/surveys/preview_page.html",
        {
            "doc": doc,
            "first": first,
            "fields": fields,
            "at_start": first == doc.questions[0].id,
            "invalid": False,
            "last": ends_after(doc, fields[-1].question),
        },
    )
    return {"problem": problem, "html": html, "ids": ids, "start": first}


def _empty(kind: str) -> Any:
    return {} if kind == "matrix" else [] if kind == "multiple_choice" else ""


@require_POST
@viewers
def survey_preview(request: HttpRequest) -> HttpResponse:
    """The preview of the form as posted; writes nothing (no version, no response)."""
    # The key plays no part on the answer page: a new questionnaire's may not be typed yet.
    document = survey_form.document_from_form(request.POST, key="preview")
    context = {"preview": preview_context(document, request.POST.get("preview_from", ""))}
    return render(request, "studio/surveys/_preview.html", context)


# -- status -------------------------------------------------------------------------------------


@require_POST
@builders
def survey_status(request: HttpRequest, key: str) -> HttpResponse:
    """Draft, active (its latest version is the one sent out) or archived; audited."""
    survey = get_object_or_404(Survey, key=key)
    status = request.POST.get("status", "")
    latest = survey.latest_version()
    if status not in Survey.Status.values:
        messages.error(request, _("Choose draft, active or archived."))
    elif status == Survey.Status.ACTIVE and latest is None:
        messages.error(request, _("Save a version before activating the questionnaire."))
    elif status != survey.status or (status == "active" and survey.current_version != latest):
        before = survey.status
        with transaction.atomic():
            survey.status = status
            if status == Survey.Status.ACTIVE:
                survey.current_version = latest
            survey.save(update_fields=["status", "current_version", "updated_at"])
            details: dict[str, Any] = {"from": before, "to": status}
            if survey.current_version is not None:
                details["version"] = survey.current_version.number
            audit.record(
                audit.Action.SURVEY, "status", actor=request.user, target=survey, details=details
            )
        messages.success(
            request,
            _("The questionnaire is now “%(status)s”.") % {"status": survey.get_status_display()},
        )
    return redirect("rules:survey_edit", key=survey.key)


# -- the gallery --------------------------------------------------------------------------------


@viewers
def survey_gallery(request: HttpRequest) -> HttpResponse:
    return _gallery(request, {}, {})


def _gallery(
    request: HttpRequest,
    errors: dict[str, str],
    typed: dict[str, dict[str, str]],
    status: int = 200,
) -> HttpResponse:
    taken = set(Survey.objects.values_list("key", flat=True))
    entries = []
    for doc in library_documents():
        entry_typed = typed.get(doc.key, {})
        entries.append(
            {
                "doc": doc,
                "count": len(doc.questions),
                "types": sorted({str(QUESTION_TYPES[q.type]) for q in doc.questions}),
                "exists": doc.key in taken,
                "key": entry_typed.get("key", doc.key if doc.key not in taken else ""),
                "name": entry_typed.get("name", doc.name),
                "error": errors.get(doc.key, ""),
            }
        )
    context = {"entries": entries, "can_edit": can_edit(request.user)}
    return render(request, "studio/surveys/gallery.html", context, status=status)


@require_POST
@builders
def survey_use(request: HttpRequest, key: str) -> HttpResponse:
    """A new questionnaire from a ready one, under the key and name chosen; audited by
    ``save_survey``. A key in use is refused, with what was typed kept."""
    found = {d.key: d for d in library_documents()}.get(key)
    if found is None:
        messages.error(request, _("There is no ready questionnaire “%(key)s”.") % {"key": key})
        return redirect("rules:survey_gallery")
    new_key = request.POST.get("key", "").strip().lower()
    name = request.POST.get("name", "").strip() or found.name
    typed = {key: {"key": new_key, "name": name}}
    error = ""
    if not KEY.match(new_key):
        error = _(
            "A key is 2–80 lowercase letters, digits and hyphens, starting with a letter or digit."
        )
    elif Survey.objects.filter(key=new_key).exists():
        error = _("A questionnaire with the key “%(key)s” exists; choose another key.") % {
            "key": new_key
        }
    elif len(name) > 100:
        error = _("Enter at most 100 characters.")
    if error:
        return _gallery(request, {key: error}, typed, status=400)
    content = {**dump_survey(found), "key": new_key, "name": name}
    saved = save_survey(parse_survey(content), user=request.user, note=f"ready: {found.key}")
    messages.success(
        request,
        _("“%(name)s” was made from the ready questionnaire. Adjust it, then activate it.")
        % {"name": name},
    )
    return redirect("rules:survey_edit", key=saved.survey.key)
