"""The lifecycle of rules and plans: the engine's one place for what starts, pauses, moves and
ends them.

Activating a version (with what happens to customers part-way through), rolling back, pausing,
resuming and archiving rules, an agent starting a rule for a customer, and consent withdrawn
cancelling the retries of messages: studio pages, the ``huifang rules`` command, strategy sets
and the hooks of lower apps (``customers.consent.withdrawn``, ``tasks.outcomes.start_rule``)
all come here. The rule's own record of each change (``RuleChange``) is written by
``huifang.rules.services.record``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from huifang.customers.models import Customer, Event
from huifang.messaging.models import Message, Reason
from huifang.rules.models import Rule, RuleChange, RuleVersion
from huifang.rules.plans import plan
from huifang.rules.services import record

from .models import DueStep, Enrollment, TriggerCursor
from .triggers import end_enrollments, enroll_now, local_today


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
    # Imported here for a cost reason: engine.tasks registers Huey tasks, which only a worker
    # or a request that activates a rule needs (and importing it at start-up would register
    # the periodic jobs before Huey is configured in the management commands).
    from .tasks import evaluate_now

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


def _record_each(ids: list[int], status: str, action: str, actor: Any, comment: str) -> None:
    for rule in Rule.objects.filter(pk__in=ids, status=status):
        record(rule, action, version=rule.current_version, actor=actor, comment=comment)


def pause(rules: Iterable[Rule], *, actor: Any = None, comment: str = "") -> int:
    """Stop rules: nothing new enrolls and pending steps wait until the rule is resumed."""
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
    yesterday = local_today(now) - timedelta(days=1)
    cursors = TriggerCursor.objects.filter(rule_id__in=ids)
    cursors.filter(evaluated_through__lt=yesterday).update(evaluated_through=yesterday)
    newest = Event.objects.order_by("-id").values_list("id", flat=True).first()
    cursors.filter(last_event_id__isnull=False).update(last_event_id=newest)


def start_rule(rule: Rule, customer_id: int, anchor: str, now: datetime) -> None:
    """Enroll one customer in the rule's running version now (an agent's "start a rule" next
    action); the anchor makes a second request for the same reason enroll no one twice."""
    if rule.current_version_id is None:
        return
    enroll_now(
        plan(rule.current_version_id),
        Customer.objects.filter(pk=customer_id),
        customer="id",
        anchor=anchor,
        now=now,
    )


def cancel_retries(customer: Customer, channels: list[str] | None, now: datetime) -> int:
    """The due retries of the customer's messages cancelled for their withdrawn consent (which
    ``withdraw_consent`` has just done, through messaging's own hook); returns how many."""
    cancelled = Message.objects.filter(
        customer=customer, status=Message.Status.CANCELLED, reason=Reason.UNSUBSCRIBED
    )
    if channels is not None:
        cancelled = cancelled.filter(channel__in=channels)
    return DueStep.objects.filter(
        message_id__in=cancelled.values("id"),
        status__in=[DueStep.Status.DUE, DueStep.Status.PAUSED],
    ).update(status=DueStep.Status.CANCELLED, done_at=now)
