"""Saving, activating and exporting rules. Every change is a new, immutable version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import translation
from django.utils.translation import gettext as _

from huifang.audit import services as audit

from .document import (
    RuleDocument,
    RuleError,
    check_references,
    dump_rule,
    load_rule_text,
    parse_rule,
)
from .models import Rule, RuleChange, RuleVersion


@dataclass
class Saved:
    rule: Rule
    version: RuleVersion
    changed: bool  # False when the document equals the latest version


def save_rule(document: RuleDocument, *, actor: Any = None, comment: str = "") -> Saved:
    """Store ``document`` as the rule's next version, unless it equals the latest one.

    ``RuleError`` when it names what does not exist in the apps above (a questionnaire)."""
    check_references(document)
    content = dump_rule(document)
    with transaction.atomic():
        rule, created = Rule.objects.select_for_update().get_or_create(
            key=document.key, defaults={"name": document.name}
        )
        if created:
            record(rule, RuleChange.Action.CREATED, actor=actor)
        latest = rule.latest_version()
        if latest is not None and latest.content == content:
            return Saved(rule, latest, changed=False)
        number = (rule.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = RuleVersion.objects.create(
            rule=rule,
            number=number,
            content=content,
            comment=comment[:200],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        if rule.name != document.name:
            rule.name = document.name
            rule.save(update_fields=["name", "updated_at"])
        record(rule, RuleChange.Action.SAVED, version=version, actor=actor, comment=comment)
    return Saved(rule, version, changed=True)


def record(
    rule: Rule,
    action: str,
    *,
    version: RuleVersion | None = None,
    actor: Any = None,
    comment: str = "",
    in_flight: str = "",
) -> RuleChange:
    """Add a line to the rule's history, and the same to the audit log."""
    change = RuleChange.objects.create(
        rule=rule,
        version=version,
        action=action,
        comment=comment[:200],
        in_flight=in_flight,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        audit.Action.RULE,
        action,
        actor=actor,
        target=rule,
        object_repr=f"{rule.name} ({rule.key})",
        details={
            k: v
            for k, v in {
                "version": version.number if version is not None else None,
                "comment": comment[:200],
                "in_flight": in_flight,
            }.items()
            if v
        },
    )
    return change


def copy_rule(rule: Rule, key: str, name: str, *, actor: Any = None) -> Saved:
    """A new draft rule with the content of ``rule``'s running (or latest) version."""
    content = exported(rule)
    content.update(key=key, name=name)
    if Rule.objects.filter(key=key).exists():
        raise RuleError("key", _("A rule with the key “%(key)s” exists.") % {"key": key})
    with translation.override(settings.LANGUAGE_CODE):  # kept as written: the org's language
        comment = _("Copy of “%(name)s”") % {"name": rule.name}
    return save_rule(parse_rule(content), actor=actor, comment=comment)


def exported(rule: Rule) -> dict[str, Any]:
    """The document of the running version, or of the latest draft when none runs."""
    version = rule.current_version or rule.latest_version()
    if version is None:
        raise ValueError(f"{rule} has no version")
    return dump_rule(parse_rule(version.content))


LIBRARY = Path(__file__).resolve().parent / "library"


def library_documents() -> list[RuleDocument]:
    """The ready strategies shipped with Huifang (``huifang/rules/library/*.yaml``)."""
    return [
        load_rule_text(path.read_text(encoding="utf-8")) for path in sorted(LIBRARY.glob("*.yaml"))
    ]
