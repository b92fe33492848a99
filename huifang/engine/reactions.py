"""Events that change running plans: an exit event ends them, a reply moves a plan that was
waiting for one (following a matching branch, else ``on_reply``).

A reply to a step waiting for one whose type is also an exit event (``survey_answered``: a
scored reply, or the questionnaire answered) is judged by the step's branches first: one that
matches is followed — a low score still opens the call — and otherwise the plan exits, as for
any exit event. Exit events that are not replies end the plan first."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from huifang.customers.event_types import event_types
from huifang.customers.models import Event
from huifang.rules.plans import Plan, plan

from . import lifecycle
from .models import Enrollment
from .runner import branch_target


def react(events: Sequence[Event], now: datetime) -> None:
    """Exit events end plans (and cancel their pending steps); replies move waiting plans."""
    by_customer: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        by_customer[event.customer_id].append(event)
    running = Enrollment.objects.filter(
        customer_id__in=list(by_customer), status=Enrollment.Status.ACTIVE
    ).only("rule_id", "version_id", "customer_id", "anchor_at", "event_id", "step", "waiting")
    exits: dict[str, list[int]] = defaultdict(list)
    replies: list[tuple[Enrollment, Plan, list[int]]] = []
    for enrollment in running:
        current = plan(enrollment.version_id)
        mine = [
            e
            for e in by_customer[enrollment.customer_id]
            if e.pk != enrollment.event_id and e.occurred_at >= enrollment.anchor_at
        ]
        waiting = enrollment.waiting == Enrollment.Waiting.REPLY
        answers = [e.pk for e in mine if _is_reply(e.type)] if waiting else []
        leaving = next((e for e in mine if e.type in current.exit_on and e.pk not in answers), None)
        replied_exit = next((e for e in mine if e.type in current.exit_on), None)
        if (
            leaving is None
            and replied_exit is not None
            and not _branches(enrollment, current, answers, now)
        ):
            leaving = replied_exit
        if leaving is not None:
            exits[f"event:{leaving.type}"].append(enrollment.pk)
        elif answers:
            replies.append((enrollment, current, answers))
    for reason, ids in exits.items():
        lifecycle.end_enrollments(ids, Enrollment.Status.EXITED, reason, now)
    if replies:
        answer(replies, now)


def _branches(enrollment: Enrollment, current: Plan, answers: Sequence[int], now: datetime) -> bool:
    """Whether the waiting step has a branch these replies match."""
    step = current.steps.get(enrollment.step)
    return (
        step is not None and branch_target(enrollment.customer_id, step, now, answers) is not None
    )


def _is_reply(kind: str) -> bool:
    entry = event_types.get(kind)
    return bool(entry and entry.is_reply)


def answer(replies: Sequence[tuple[Enrollment, Plan, Sequence[int]]], now: datetime) -> None:
    """The customer replied while a step waited for it: follow a matching branch (judging
    ``answer.*`` on these reply events), else stop, continue, or go to the step ``on_reply``
    names."""
    done, moves = [], []
    for enrollment, current, events in replies:
        step = current.steps.get(enrollment.step)
        if step is None:
            done.append(enrollment.pk)
            continue
        # A branch decides first (a low survey score → a call); otherwise on_reply.
        target = branch_target(enrollment.customer_id, step, now, events)
        if target is None and step.on_reply == "stop":
            done.append(enrollment.pk)
            continue
        if target is None:
            target = current.following(step.id) if step.on_reply == "continue" else step.on_reply
        if target is None:
            done.append(enrollment.pk)
        else:
            moves.append((enrollment, target))
    lifecycle.end_enrollments(done, Enrollment.Status.COMPLETED, "replied", now)
    lifecycle.move_to(moves, now)
