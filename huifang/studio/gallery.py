"""The gallery of ready strategies, by industry, and "use this": a draft copy to edit."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from huifang.customers.models import Channel
from huifang.messaging.services import load_template_library
from huifang.rules.document import dump_rule
from huifang.rules.models import Rule, RuleChange
from huifang.rules.services import Saved, library_documents, record, save_rule
from huifang.surveys.services import load_survey_library

from .access import can_edit, editors, readers

# Which industry each ready strategy is shown under (its key decides; unknown ones: "other").
INDUSTRIES = (
    ("retail", gettext_lazy("Retail and e-commerce"), ("retail-",)),
    ("saas", gettext_lazy("SaaS and B2B"), ("saas-onboarding",)),
    ("renewal", gettext_lazy("Contract renewal"), ("saas-renewal",)),
    ("clinic", gettext_lazy("Clinics"), ("clinic-",)),
    ("beauty", gettext_lazy("Beauty and wellness"), ("beauty-",)),
    ("education", gettext_lazy("Education and training"), ("education-",)),
    ("vip", gettext_lazy("VIP care"), ("vip-",)),
    ("dormant", gettext_lazy("Dormant reactivation"), ("dormant-",)),
    ("complaint", gettext_lazy("Complaints"), ("complaint-",)),
    ("ticket", gettext_lazy("Support tickets"), ("ticket-",)),
    ("survey", gettext_lazy("Questionnaires and satisfaction"), ("quarterly-nps",)),
    ("recovery", gettext_lazy("Unhappy customers"), ("detractor-",)),
)


def industry_of(key: str) -> str:
    for code, _label, prefixes in INDUSTRIES:
        if key.startswith(prefixes):
            return code
    return "other"


def channel_labels(document: Any) -> list[str]:
    """The channels a strategy's messages use, named, in the order its steps first use them
    (短信 → 企业微信: a fallback reads in its order)."""
    codes: list[str] = []
    for step in document.steps:
        if step.send:
            for code in [step.send.channel] if step.send.channel else step.send.channels or []:
                if code not in codes:
                    codes.append(code)
    return [str(Channel(c).label) if c in Channel.values else c for c in codes]


@readers
def gallery(request: HttpRequest) -> HttpResponse:
    documents = library_documents()
    used = dict(Rule.objects.exclude(origin="").values_list("origin", "key"))
    sections = []
    for code, label, _prefixes in INDUSTRIES:
        entries = [
            {
                "doc": d,
                "steps": len(d.steps),
                "channels": channel_labels(d),
                "tasks": sum(1 for s in d.steps if s.task),
                "copy": used.get(d.key, ""),
            }
            for d in documents
            if industry_of(d.key) == code
        ]
        if entries:
            sections.append({"code": code, "label": label, "entries": entries})
    context: dict[str, Any] = {"sections": sections, "can_edit": can_edit(request.user)}
    return render(request, "studio/gallery.html", context)


def free_key(base: str) -> str:
    key, n = base, 2
    while Rule.objects.filter(key=key).exists():
        key = f"{base[:75]}-{n}"
        n += 1
    return key


@require_POST
@editors
def use(request: HttpRequest, key: str) -> HttpResponse:
    """A new rule whose working copy is the ready strategy; nothing runs until it is saved,
    previewed and activated. The texts of its messages and its questionnaires are loaded
    where missing."""
    found = {d.key: d for d in library_documents()}.get(key)
    if found is None:
        messages.error(request, _("There is no ready strategy “%(key)s”.") % {"key": key})
        return redirect("rules:gallery")
    with transaction.atomic():
        load_survey_library(actor=request.user)
        load_template_library(actor=request.user)
        content = dump_rule(found)
        content["key"] = free_key(found.key)
        rule = Rule.objects.create(
            key=content["key"],
            name=found.name,
            origin=found.key,
            draft=content,
            draft_saved_by=request.user if request.user.is_authenticated else None,
        )
        record(rule, RuleChange.Action.CREATED, actor=request.user, comment=found.key)
    messages.success(
        request,
        _("A draft copy of “%(name)s” was made. Adjust it, save it, preview it, then activate it.")
        % {"name": found.name},
    )
    return redirect("rules:edit", key=rule.key)


def load_library(*, actor: Any = None) -> list[Saved]:
    """Save every ready strategy as a draft version (an unchanged one adds nothing), with
    the texts of its messages and the questionnaires it links to where they do not exist
    yet."""
    load_survey_library(actor=actor)
    load_template_library(actor=actor)
    # Kept as written, so in the organisation's language (it shows in the version list).
    with translation.override(settings.LANGUAGE_CODE):
        comment = _("From the ready strategies")
    return [save_rule(document, actor=actor, comment=comment) for document in library_documents()]
