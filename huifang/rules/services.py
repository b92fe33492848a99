"""Saving, activating and exporting rules. Every change is a new, immutable version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max

from .document import RuleDocument, dump_rule, load_rule_text, parse_rule
from .models import Rule, RuleVersion


@dataclass
class Saved:
    rule: Rule
    version: RuleVersion
    changed: bool  # False when the document equals the latest version


def save_rule(document: RuleDocument, *, actor: Any = None, comment: str = "") -> Saved:
    """Store ``document`` as the rule's next version, unless it equals the latest one."""
    content = dump_rule(document)
    with transaction.atomic():
        rule, _created = Rule.objects.select_for_update().get_or_create(
            key=document.key, defaults={"name": document.name}
        )
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
    return Saved(rule, version, changed=True)


def activate(rule: Rule, version: RuleVersion) -> None:
    """Make ``version`` the one that runs. (In-flight policies arrive with enrollments.)"""
    if version.rule_id != rule.pk:
        raise ValueError(f"{version} does not belong to {rule}")
    rule.current_version = version
    rule.status = Rule.Status.ACTIVE
    rule.save(update_fields=["current_version", "status", "updated_at"])


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


def load_library(*, actor: Any = None) -> list[Saved]:
    """Save every ready strategy as a draft version (an unchanged one adds nothing)."""
    return [
        save_rule(document, actor=actor, comment="ready strategy")
        for document in library_documents()
    ]
