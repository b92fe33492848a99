"""Saving and exporting questionnaires. Every change is a new, immutable version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from huifang.audit import services as audit
from huifang.rules.document import RuleDocument, RuleError

from .document import SurveyDocument, SurveyError, dump_survey, load_survey_text, parse_survey
from .models import Survey, SurveyVersion


@dataclass
class SavedSurvey:
    survey: Survey
    version: SurveyVersion
    changed: bool  # False when the document equals the latest version


def save_survey(document: SurveyDocument, *, user: Any = None, note: str = "") -> SavedSurvey:
    """Store ``document`` as the questionnaire's next version, unless it equals the latest
    one; the new version and the questionnaire's creation are written to the audit log."""
    content = dump_survey(document)
    with transaction.atomic():
        survey, created = Survey.objects.select_for_update().get_or_create(
            key=document.key, defaults={"name": document.name}
        )
        latest = survey.latest_version()
        if latest is not None and latest.content == content:
            return SavedSurvey(survey, latest, changed=False)
        number = (survey.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = SurveyVersion.objects.create(
            survey=survey,
            number=number,
            content=content,
            note=note[:200],
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        if survey.name != document.name:
            survey.name = document.name
            survey.save(update_fields=["name", "updated_at"])
        audit.record(
            audit.Action.SURVEY,
            "created" if created else "saved",
            actor=user,
            target=survey,
            details={"version": number, **({"note": note[:200]} if note else {})},
        )
    return SavedSurvey(survey, version, changed=True)


def export_survey(key: str) -> dict[str, Any]:
    """The document of the version sent out, or of the latest one when none is."""
    survey = Survey.objects.select_related("current_version").filter(key=key).first()
    version = None if survey is None else survey.current_version or survey.latest_version()
    if version is None:
        raise SurveyError("key", _("There is no questionnaire “%(key)s”.") % {"key": key})
    return dump_survey(parse_survey(version.content))


LIBRARY = Path(__file__).resolve().parent / "library"


def sendable_version(key: str) -> SurveyVersion | None:
    """The version a message made now links to: the questionnaire's current version, else its
    latest; ``None`` when there is no such questionnaire or it is archived."""
    survey = (
        Survey.objects.select_related("current_version")
        .filter(key=key)
        .exclude(status=Survey.Status.ARCHIVED)
        .first()
    )
    if survey is None:
        return None
    return survey.current_version or survey.latest_version()


def check_rule_surveys(rule: RuleDocument) -> None:
    """``rules.document.references``: every questionnaire a rule's steps name exists and is
    not archived, so a rule is never saved to send a link to nothing."""
    for index, step in enumerate(rule.steps):
        if not step.survey:
            continue
        status = Survey.objects.filter(key=step.survey).values_list("status", flat=True).first()
        if status is None:
            raise RuleError(
                f"steps.{index}.survey",
                _("There is no questionnaire “%(key)s”.") % {"key": step.survey},
            )
        if status == Survey.Status.ARCHIVED:
            raise RuleError(
                f"steps.{index}.survey",
                _("The questionnaire “%(key)s” is archived: choose one that is in use.")
                % {"key": step.survey},
            )


def library_documents() -> list[SurveyDocument]:
    """The ready questionnaires shipped with Huifang (``huifang/surveys/library/*.yaml``)."""
    return [
        load_survey_text(path.read_text(encoding="utf-8"))
        for path in sorted(LIBRARY.glob("*.yaml"))
    ]


def load_survey_library(*, actor: Any = None) -> list[SavedSurvey]:
    """Save the ready questionnaires that do not exist yet, active and sent at their first
    version, so the ready strategies that name them work as they are: a questionnaire someone
    already has (edited, archived) is left as it is."""
    existing = set(Survey.objects.values_list("key", flat=True))
    saved = []
    for document in library_documents():
        if document.key in existing:
            continue
        done = save_survey(document, user=actor, note="ready questionnaire")
        Survey.objects.filter(pk=done.survey.pk).update(
            status=Survey.Status.ACTIVE, current_version=done.version
        )
        audit.record(
            audit.Action.SURVEY,
            "activated",
            actor=actor,
            target=done.survey,
            details={"version": done.version.number},
        )
        saved.append(done)
    return saved
