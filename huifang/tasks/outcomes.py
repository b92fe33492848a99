"""Recording what happened on a follow-up (回访结果), and what follows from it.

Outcomes:

- *reached* — the task is done; a satisfaction score may be given;
- *not reached* — one more attempt; the task stays open;
- *call back at …* — the customer asked to be called at a time: the task is due then;
- *wrong number* — the phone is flagged on the customer (a contact point marked invalid, and
  SMS and phone consent withdrawn with that evidence, so no message goes to a stranger);
- *refused further contact* — the customer goes on the do-not-contact list with the agent's
  words as evidence, and their pending messages are cancelled.

Each outcome is an event on the customer's timeline — ``followup_reached``,
``followup_not_reached``, ``followup_call_back``, ``followup_wrong_number``, ``followup_refused``
(see ``event_types.py``) — so rules can start from it (e.g. "reached with score ≤ 2 → …"), and a
conversation counts as contact for "no interaction for 90 days". Next actions the agent ticks:
a service ticket event, a sales opportunity event, a re-visit task, or starting a rule for the
customer.

The closed loop (PRODUCT.md §4): a low score (``LOW_SCORE`` or less) opens a remediation task
for the responsible team; when that is done, a re-visit task asks the customer whether it was
put right; a low score on the re-visit opens the loop again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.core.hooks import Hook
from huifang.customers.consent import consent_state, restore_consent, withdraw_consent
from huifang.customers.events import record_events
from huifang.customers.models import Channel, Consent, ContactPoint, Customer, Event
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.rules.models import Rule

from . import changes, reminders
from .models import Task, TaskEvent
from .services import Opening, open_tasks, sla_of, working_time

# start_rule(rule, customer_id, anchor, now): the engine enrolls the customer in the rule's
# current version (it connects itself in its AppConfig.ready(); tasks never import the engine).
start_rule: Hook[Callable[[Rule, int, str, datetime], object]] = Hook("rule started by an agent")

LOW_SCORE = 2  # on the 1–5 scale: 1 and 2 are unhappy customers
REVISIT_AFTER = timedelta(days=3)  # wall-clock time, then the SLA counts in working time
DONE_OUTCOMES = (Task.Outcome.REACHED, Task.Outcome.WRONG_NUMBER, Task.Outcome.REFUSED)
# They withdraw consent and cancel pending messages: confirmed first, undone within the window.
CONSEQUENTIAL = (Task.Outcome.WRONG_NUMBER, Task.Outcome.REFUSED)
UNDO_WINDOW = timedelta(minutes=10)


class NextAction:
    TICKET = "ticket"
    OPPORTUNITY = "opportunity"
    REVISIT = "revisit"
    RULE = "rule"


@dataclass
class Report:
    """What the agent filled in on the outcome form."""

    outcome: str
    score: int | None = None
    notes: str = ""
    tags: list[str] = field(default_factory=list)
    call_back_at: datetime | None = None
    actions: Sequence[str] = ()
    revisit_at: datetime | None = None
    rule: Rule | None = None
    # Outcomes that withdraw consent are confirmed on the form first (``CONSEQUENTIAL``);
    # other callers (a customer's SMS reply) have nothing to confirm.
    confirmed: bool = True


@dataclass
class Recorded:
    task: Task
    event: Event
    opened: list[Task] = field(default_factory=list)  # remediation / re-visit tasks


def check(report: Report, now: datetime) -> None:
    errors: dict[str, str] = {}
    if report.outcome not in Task.Outcome.values:
        errors["outcome"] = _("Choose what happened.")
    elif report.outcome in CONSEQUENTIAL and not report.confirmed:
        errors["confirm"] = _(
            "Tick the box to confirm: this withdraws the customer's consent and cancels their "
            "pending messages."
        )
    if report.score is not None:
        if not 1 <= report.score <= 5:
            errors["score"] = _("The score is from 1 to 5.")
        elif report.outcome not in (Task.Outcome.REACHED, Task.Outcome.CALL_BACK):
            errors["score"] = _("Only a customer you reached can give a score.")
    if report.outcome == Task.Outcome.CALL_BACK:
        if report.call_back_at is None:
            errors["call_back_at"] = _("Say when to call back.")
        elif report.call_back_at <= now:
            errors["call_back_at"] = _("The call-back time must be in the future.")
    if NextAction.REVISIT in report.actions:
        if report.revisit_at is None:
            errors["revisit_at"] = _("Say when to re-visit.")
        elif report.revisit_at <= now:
            errors["revisit_at"] = _("The re-visit must be in the future.")
    if NextAction.RULE in report.actions:
        if report.rule is None:
            errors["rule"] = _("Choose the rule to start.")
        elif report.rule.status != Rule.Status.ACTIVE or report.rule.current_version_id is None:
            errors["rule"] = _("That rule is not active.")
    if any(not t.strip() or len(t) > 30 for t in report.tags):
        errors["tags"] = _("Tags are 1 to 30 characters each.")
    if len(report.notes) > 5000:
        errors["notes"] = _("Notes are at most 5,000 characters.")
    if errors:
        raise ValidationError(errors)


def record(task: Task, report: Report, *, actor: Any, now: datetime | None = None) -> Recorded:
    """Record one attempt on ``task``. Raises ``ValidationError`` (nothing written) when the
    report does not hold together, or the task is closed already."""
    now = now or timezone.now()
    check(report, now)
    with transaction.atomic():
        locked = (
            Task.objects.select_for_update(of=("self",))
            .select_related("customer", "team")
            .get(pk=task.pk)
        )
        if locked.is_closed:
            raise ValidationError(_("This task is closed already."))
        result = _apply(locked, report, actor, now)
    task.refresh_from_db()
    return result


def _apply(task: Task, report: Report, actor: Any, now: datetime) -> Recorded:
    customer = task.customer
    undo = _before(task) if report.outcome in CONSEQUENTIAL else None
    task.outcome = report.outcome
    task.attempts = F("attempts") + 1  # type: ignore[assignment]
    if report.score is not None:
        task.score = report.score
    if report.notes.strip():
        task.notes = report.notes.strip()
    task.tags = sorted(set(task.tags or []) | {t.strip() for t in report.tags})
    fields = ["outcome", "attempts", "score", "notes", "tags", "updated_at"]
    if report.outcome in DONE_OUTCOMES:
        task.status, task.closed_at = Task.Status.DONE, now
        fields += ["status", "closed_at"]
    elif report.outcome == Task.Outcome.NOT_REACHED and task.status == Task.Status.OPEN:
        task.status, task.started_at = Task.Status.IN_PROGRESS, task.started_at or now
        fields += ["status", "started_at"]
    elif report.outcome == Task.Outcome.CALL_BACK:
        assert report.call_back_at is not None
        task.due_at, task.overdue_at, task.status = report.call_back_at, None, Task.Status.OPEN
        fields += ["due_at", "overdue_at", "status"]
    task.save(update_fields=fields)
    task.refresh_from_db(fields=["attempts"])
    data: dict[str, Any] = {
        "outcome": report.outcome,
        "score": report.score,
        "notes": report.notes.strip()[:5000],
        "tags": sorted(report.tags),
        "call_back_at": report.call_back_at.isoformat() if report.call_back_at else None,
        "actions": list(report.actions),
    }
    if undo is not None:
        data["undo"] = undo
    if report.outcome == Task.Outcome.WRONG_NUMBER:
        point = _wrong_number(customer, task, actor, now)
        if undo is not None and point is not None:
            undo["point"] = point
    elif report.outcome == Task.Outcome.REFUSED:
        _refused(customer, task, actor, report.notes, now)
    TaskEvent.objects.create(task=task, kind=TaskEvent.Kind.OUTCOME, at=now, actor=actor, data=data)
    if report.outcome == Task.Outcome.CALL_BACK:
        TaskEvent.objects.create(
            task=task,
            kind=TaskEvent.Kind.RESCHEDULED,
            at=now,
            actor=actor,
            data={"due_at": task.due_at.isoformat() if task.due_at else None},
        )
    reminders.replan([task], now=now)
    if report.outcome in DONE_OUTCOMES:
        changes.happened(changes.COMPLETED, [task], now)
    if report.outcome == Task.Outcome.CALL_BACK and report.call_back_at is not None:
        reminders.call_back(task, report.call_back_at)
    event = _event(task, report, actor, now)
    recorded = Recorded(task, event)
    events = [event]
    events += _actions(task, report, actor, now, recorded)
    recorded.opened += _closed_loop(task, report, actor, now)
    record_events(events, now=now)
    return recorded


def _before(task: Task) -> dict[str, Any]:
    """What an undo of a consequential outcome puts back: the task as it was and the
    customer's consent (``restore_consent``)."""
    return {
        "task": {
            "status": task.status,
            "outcome": task.outcome,
            "score": task.score,
            "notes": task.notes,
            "tags": list(task.tags or []),
        },
        "consent": consent_state(task.customer),
    }


def undo_deadline(task: Task, event: TaskEvent | None) -> datetime | None:
    """Until when ``event`` (the task's last outcome) can be undone; None when it cannot."""
    if event is None or not isinstance(event.data, dict) or "undo" not in event.data:
        return None
    if not task.is_closed or task.outcome != event.data.get("outcome"):
        return None
    return event.at + UNDO_WINDOW


def last_outcome(task: Task) -> TaskEvent | None:
    return (
        TaskEvent.objects.filter(
            task=task, kind__in=(TaskEvent.Kind.OUTCOME, TaskEvent.Kind.UNDONE)
        )
        .order_by("-at", "-pk")
        .first()
    )


def undo(task: Task, *, actor: Any, now: datetime | None = None) -> list[str]:
    """Take back a "wrong number" or "refused further contact" recorded by mistake, within
    ``UNDO_WINDOW``, by whoever recorded it: the task opens again as it was, the phone is no
    longer flagged, consent and do-not-contact are what they were (audited, on the timeline).
    Messages cancelled in between stay cancelled. Returns the channels whose consent came back;
    raises ``ValidationError`` when it is too late or not this person's to undo."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = (
            Task.objects.select_for_update(of=("self",)).select_related("customer").get(pk=task.pk)
        )
        event = last_outcome(locked)
        deadline = undo_deadline(locked, event)
        if event is None or deadline is None or now > deadline:
            raise ValidationError(_("This outcome can no longer be undone."))
        if event.actor_id != getattr(actor, "pk", None):
            raise ValidationError(_("Only the person who recorded the outcome can undo it."))
        state = event.data["undo"]
        before = state["task"]
        locked.status = before["status"]
        locked.outcome = before["outcome"]
        locked.score = before["score"]
        locked.notes = before["notes"]
        locked.tags = before["tags"]
        locked.closed_at = None
        locked.attempts = max(locked.attempts - 1, 0)
        locked.save(
            update_fields=[
                "status",
                "outcome",
                "score",
                "notes",
                "tags",
                "closed_at",
                "attempts",
                "updated_at",
            ]
        )
        if state.get("point"):
            pk, label = state["point"]
            ContactPoint.objects.filter(pk=pk).update(invalid_at=None, label=label)
        reason = _(
            "Undone by %(agent)s: “%(outcome)s” on follow-up task #%(task)s was a mistake"
        ) % {
            "agent": actor.get_username(),
            "outcome": Task.Outcome(event.data["outcome"]).label,
            "task": locked.pk,
        }
        restored = restore_consent(
            locked.customer, state["consent"], actor=actor, reason=reason, now=now
        )
        TaskEvent.objects.create(
            task=locked,
            kind=TaskEvent.Kind.UNDONE,
            at=now,
            actor=actor,
            data={"outcome": event.data["outcome"], "channels": restored},
        )
        reminders.replan([locked], now=now)
    task.refresh_from_db()
    return restored


def _event(task: Task, report: Report, actor: Any, now: datetime) -> Event:
    return Event(
        customer_id=task.customer_id,
        type=f"followup_{report.outcome}",
        occurred_at=now,
        source=Event.Source.STAFF,
        score=report.score,
        properties={
            "task": task.pk,
            "task_kind": task.kind,
            "outcome": report.outcome,
            "score": report.score,
            "tags": sorted(report.tags),
            "notes": report.notes.strip()[:500],
            "agent": actor.get_username() if actor is not None else "",
            "rule": task.rule_id,
            # The rule's key, which a ready strategy can name ("after a detractor-recovery
            # call reached the customer"), where the id differs in every installation.
            "rule_key": task.rule.key if task.rule is not None else "",
        },
    )


def _wrong_number(customer: Customer, task: Task, actor: Any, now: datetime) -> list[Any] | None:
    """Flag the phone and withdraw SMS and phone consent; the contact point this flagged (for
    an undo), if it was not flagged before."""
    if not customer.phone:
        return None
    point, _created = ContactPoint.objects.get_or_create(
        customer=customer, kind=ContactPoint.Kind.PHONE, value=customer.phone
    )
    flagged = None
    if point.invalid_at is None:
        flagged = [point.pk, point.label]
        point.invalid_at = now
        point.label = point.label or _("wrong number")
        point.save(update_fields=["invalid_at", "label"])
    evidence = _("Wrong number, reported by %(agent)s on follow-up task #%(task)s") % {
        "agent": actor.get_username() if actor is not None else "-",
        "task": task.pk,
    }
    withdraw_consent(
        customer,
        [Channel.SMS, Channel.PHONE],
        method=Consent.Method.VERBAL,
        evidence=evidence,
        actor=actor,
        now=now,
        details={"task": task.pk},
    )
    return flagged


def _refused(customer: Customer, task: Task, actor: Any, notes: str, now: datetime) -> None:
    evidence = _("Refused further contact on follow-up task #%(task)s, recorded by %(agent)s")
    evidence = evidence % {"task": task.pk, "agent": actor.get_username() if actor else "-"}
    if notes.strip():
        evidence += f": {notes.strip()[:1500]}"
    withdraw_consent(
        customer,
        None,
        method=Consent.Method.VERBAL,
        evidence=evidence,
        actor=actor,
        now=now,
        details={"task": task.pk},
    )


def _actions(
    task: Task, report: Report, actor: Any, now: datetime, recorded: Recorded
) -> list[Event]:
    events: list[Event] = []
    for action, kind in (
        (NextAction.TICKET, "ticket_requested"),
        (NextAction.OPPORTUNITY, "sales_opportunity"),
    ):
        if action in report.actions:
            events.append(
                Event(
                    customer_id=task.customer_id,
                    type=kind,
                    occurred_at=now,
                    source=Event.Source.STAFF,
                    properties={
                        "task": task.pk,
                        "notes": report.notes.strip()[:500],
                        "agent": actor.get_username() if actor else "",
                    },
                )
            )
    if NextAction.REVISIT in report.actions and report.revisit_at is not None:
        recorded.opened += _open(
            task,
            Task.Kind.REVISIT,
            _("Re-visit %(name)s") % {"name": task.customer.name},
            actor,
            now,
            due_at=report.revisit_at,
            team=task.team,
        )
    if NextAction.RULE in report.actions and report.rule is not None:
        _start_rule(report.rule, task, now)
    return events


def _start_rule(rule: Rule, task: Task, now: datetime) -> None:
    assert rule.current_version_id is not None
    start_rule(rule, task.customer_id, f"task:{task.pk}", now)


def _closed_loop(task: Task, report: Report, actor: Any, now: datetime) -> list[Task]:
    name = task.customer.name
    if report.score is not None and report.score <= LOW_SCORE:
        team = (
            task.team.remediation_team if task.team and task.team.remediation_team_id else task.team
        )
        return _open(
            task,
            Task.Kind.REMEDIATION,
            _("Put right: %(name)s scored %(score)s") % {"name": name, "score": report.score},
            actor,
            now,
            team=team,
            priority=Task.Priority.URGENT,
            script=report.notes.strip(),
        )
    if task.kind == Task.Kind.REMEDIATION and report.outcome == Task.Outcome.REACHED:
        origin = task.parent
        return _open(
            task,
            Task.Kind.REVISIT,
            _("Re-visit %(name)s: was it put right?") % {"name": name},
            actor,
            now,
            team=origin.team if origin is not None else task.team,
            due_at=None,
            created_at=now,
            starts=now + REVISIT_AFTER,
        )
    return []


def _open(
    parent: Task,
    kind: str,
    title: str,
    actor: Any,
    now: datetime,
    *,
    team: Any,
    due_at: datetime | None = None,
    priority: str = Task.Priority.HIGH,
    script: str = "",
    created_at: datetime | None = None,
    starts: datetime | None = None,
) -> list[Task]:
    task = Task(
        customer_id=parent.customer_id,
        parent=parent,
        kind=kind,
        title=title[:200],
        script=script,
        priority=priority,
        team=team,
        rule_id=parent.rule_id,
        due_at=due_at,
        created_by=actor,
        created_at=created_at or now,
    )
    if task.due_at is None and starts is not None:
        task.due_at = working_time(team, BusinessCalendar.load()).add(
            starts, sla_of(team, priority)
        )
    return open_tasks([Opening(task)], now=now, actor=actor)
