"""Saving, activating and exporting rules. Every change is a new, immutable version."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from .document import RuleDocument, RuleError, dump_rule, load_rule_text, parse_rule
from .models import Rule, RuleChange, RuleVersion


@dataclass
class Saved:
    rule: Rule
    version: RuleVersion
    changed: bool  # False when the document equals the latest version


def save_rule(document: RuleDocument, *, actor: Any = None, comment: str = "") -> Saved:
    """Store ``document`` as the rule's next version, unless it equals the latest one."""
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
    """Add a line to the rule's audit trail."""
    return RuleChange.objects.create(
        rule=rule,
        version=version,
        action=action,
        comment=comment[:200],
        in_flight=in_flight,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )


class InFlight:
    """What happens to customers part-way through a rule when a new version is activated."""

    KEEP = "keep"  # stay on the version they started on (the default)
    MOVE = "move"  # continue on the new version from their next step
    END = "end"  # end their plans now

    choices = (KEEP, MOVE, END)


def activate(
    rule: Rule,
    version: RuleVersion,
    *,
    in_flight: str = InFlight.KEEP,
    now: Any = None,
    actor: Any = None,
    comment: str = "",
    action: str = RuleChange.Action.ACTIVATED,
) -> int:
    """Make ``version`` the one that runs; returns how many running plans were moved or ended.

    New enrollments always start on the running version. Running ones stay pinned to theirs
    unless ``in_flight`` says otherwise; history (messages, tasks, finished plans) is never
    rewritten.
    """
    from huifang.engine.models import Enrollment
    from huifang.engine.triggers import end_enrollments

    if version.rule_id != rule.pk:
        raise ValueError(f"{version} does not belong to {rule}")
    if in_flight not in InFlight.choices:
        raise ValueError(f"in_flight must be one of {', '.join(InFlight.choices)}")
    now = now or timezone.now()
    with transaction.atomic():
        rule = Rule.objects.select_for_update().get(pk=rule.pk)
        was_paused = rule.status == Rule.Status.PAUSED
        rule.current_version = version
        if not was_paused:
            rule.status = Rule.Status.ACTIVE
        rule.save(update_fields=["current_version", "status", "updated_at"])
        record(rule, action, version=version, actor=actor, comment=comment, in_flight=in_flight)
        if rule.status == Rule.Status.ACTIVE:
            # Scheduled triggers are evaluated at once rather than at the next minute, once the
            # activation is committed (never for one that rolls back).
            transaction.on_commit(_evaluate_soon)
        running = Enrollment.objects.filter(rule=rule, status=Enrollment.Status.ACTIVE).exclude(
            version=version
        )
        if in_flight == InFlight.MOVE:
            return running.update(version=version)
        if in_flight == InFlight.END:
            ids = list(running.values_list("pk", flat=True))
            return end_enrollments(ids, Enrollment.Status.ENDED, "version_changed", now)
    return 0


def _evaluate_soon() -> None:
    from huifang.engine.tasks import evaluate_now

    evaluate_now()


def rollback(
    rule: Rule,
    to: RuleVersion,
    *,
    actor: Any = None,
    in_flight: str = InFlight.KEEP,
    comment: str = "",
) -> RuleVersion:
    """Run an older version's content again, as a new version (history stays as it was)."""
    if to.rule_id != rule.pk:
        raise ValueError(f"{to} does not belong to {rule}")
    content = dict(to.content)
    with transaction.atomic():
        number = (rule.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = RuleVersion.objects.create(
            rule=rule,
            number=number,
            content=content,
            comment=(comment or f"rollback to v{to.number}")[:200],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        activate(
            rule,
            version,
            in_flight=in_flight,
            actor=actor,
            comment=comment or f"v{to.number}",
            action=RuleChange.Action.ROLLED_BACK,
        )
    return version


def copy_rule(rule: Rule, key: str, name: str, *, actor: Any = None) -> Saved:
    """A new draft rule with the content of ``rule``'s running (or latest) version."""
    content = exported(rule)
    content.update(key=key, name=name)
    if Rule.objects.filter(key=key).exists():
        raise RuleError("key", _("A rule with the key “%(key)s” exists.") % {"key": key})
    return save_rule(parse_rule(content), actor=actor, comment=f"copy of {rule.key}")


def _record_each(ids: list[int], status: str, action: str, actor: Any, comment: str) -> None:
    for rule in Rule.objects.filter(pk__in=ids, status=status):
        record(rule, action, version=rule.current_version, actor=actor, comment=comment)


def pause(rules: Iterable[Rule], *, actor: Any = None, comment: str = "") -> int:
    """Stop rules: nothing new enrolls and pending steps wait until the rule is resumed."""
    from huifang.engine.models import DueStep

    ids = [rule.pk for rule in rules]
    with transaction.atomic():
        _record_each(ids, Rule.Status.ACTIVE, RuleChange.Action.PAUSED, actor, comment)
        count = Rule.objects.filter(pk__in=ids, status=Rule.Status.ACTIVE).update(
            status=Rule.Status.PAUSED, updated_at=timezone.now()
        )
        DueStep.objects.filter(enrollment__rule_id__in=ids, status=DueStep.Status.DUE).update(
            status=DueStep.Status.PAUSED
        )
    return count


def archive(rules: Iterable[Rule], *, now: Any = None, actor: Any = None, comment: str = "") -> int:
    """Retire rules: nothing new enrolls, running plans end and their pending steps are
    cancelled. The versions, plans and messages stay as history; a rule can be activated again."""
    from huifang.engine.models import Enrollment
    from huifang.engine.triggers import end_enrollments

    ids = [rule.pk for rule in rules]
    now = now or timezone.now()
    with transaction.atomic():
        for rule in Rule.objects.filter(pk__in=ids).exclude(status=Rule.Status.ARCHIVED):
            record(
                rule,
                RuleChange.Action.ARCHIVED,
                version=rule.current_version,
                actor=actor,
                comment=comment,
            )
        count = (
            Rule.objects.filter(pk__in=ids)
            .exclude(status=Rule.Status.ARCHIVED)
            .update(status=Rule.Status.ARCHIVED, updated_at=now)
        )
        running = Enrollment.objects.filter(rule_id__in=ids, status=Enrollment.Status.ACTIVE)
        end_enrollments(
            list(running.values_list("pk", flat=True)), Enrollment.Status.ENDED, "archived", now
        )
    return count


def resume(rules: Iterable[Rule], *, now: Any = None, actor: Any = None, comment: str = "") -> int:
    """Run paused rules again. Steps that fell due meanwhile run now if still within the
    rule's misfire grace, else they are marked missed, exactly as after downtime."""
    from huifang.engine.models import DueStep

    ids = [rule.pk for rule in rules]
    with transaction.atomic():
        _record_each(
            [
                pk
                for pk in Rule.objects.filter(
                    pk__in=ids, current_version__isnull=False
                ).values_list("pk", flat=True)
            ],
            Rule.Status.PAUSED,
            RuleChange.Action.RESUMED,
            actor,
            comment,
        )
        count = Rule.objects.filter(
            pk__in=ids, status=Rule.Status.PAUSED, current_version__isnull=False
        ).update(status=Rule.Status.ACTIVE, updated_at=timezone.now())
        DueStep.objects.filter(
            enrollment__rule_id__in=ids,
            enrollment__rule__status=Rule.Status.ACTIVE,
            status=DueStep.Status.PAUSED,
        ).update(status=DueStep.Status.DUE)
        _skip_paused_time(ids, now or timezone.now())
    return count


def _skip_paused_time(ids: list[int], now: Any) -> None:
    """A paused rule's triggers do not catch up on the pause (unlike downtime): dates and
    recurring turns carry on from today, full evaluations from the newest event."""
    from huifang.customers.models import Event
    from huifang.engine.models import TriggerCursor
    from huifang.engine.triggers import local_today

    yesterday = local_today(now) - timedelta(days=1)
    cursors = TriggerCursor.objects.filter(rule_id__in=ids)
    cursors.filter(evaluated_through__lt=yesterday).update(evaluated_through=yesterday)
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    cursors.filter(last_event_id__isnull=False).update(last_event_id=newest)


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
    """Save every ready strategy as a draft version (an unchanged one adds nothing), with
    the texts of its messages where they do not exist yet."""
    from huifang.messaging.services import load_template_library

    load_template_library(actor=actor)
    return [
        save_rule(document, actor=actor, comment="ready strategy")
        for document in library_documents()
    ]
