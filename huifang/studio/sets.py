"""Strategy sets (策略组): switching a whole set of rules on at once — now, or at a time the
periodic scheduler keeps — and previewing what the switch would change before it happens.

A switch runs every rule of the set (resuming a paused one, activating a draft's latest
version), pauses every other active rule, and marks the set as the active one, all in one
transaction; each rule's audit trail records it with the switch's comment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huifang.customers.models import Channel
from huifang.engine.lifecycle import InFlight, activate, end_enrollments, pause, resume
from huifang.engine.models import Enrollment
from huifang.messaging.models import Reason as Why
from huifang.rules.models import Rule, RuleChange, ScheduledSwitch, StrategySet

from .simulate import simulate

log = logging.getLogger(__name__)

# Why plans part-way through a rule that stops ended, when the switch says "end".
END_REASON = "set_switched"


class SetError(ValueError):
    """Bad input for a switch, naming the form field it belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class Plan:
    """What switching to a set would do to the rules, as things stand now."""

    start: list[Rule] = field(default_factory=list)  # in the set, not running: run them
    stop: list[Rule] = field(default_factory=list)  # running, not in the set: pause them
    keep: list[Rule] = field(default_factory=list)  # running and in the set
    skipped: list[Rule] = field(default_factory=list)  # in the set, archived or never saved

    @property
    def changes(self) -> bool:
        return bool(self.start or self.stop)

    @property
    def running_keys(self) -> list[str]:
        """The rules that run after the switch."""
        return sorted(rule.key for rule in self.start + self.keep)


def plan_switch(strategy_set: StrategySet) -> Plan:
    plan = Plan()
    members = set()
    for rule in strategy_set.rules.select_related("current_version").order_by("name", "key"):
        members.add(rule.pk)
        if rule.status == Rule.Status.ACTIVE:
            plan.keep.append(rule)
        elif rule.status == Rule.Status.ARCHIVED or _version_to_run(rule) is None:
            plan.skipped.append(rule)
        else:
            plan.start.append(rule)
    plan.stop = list(
        Rule.objects.filter(status=Rule.Status.ACTIVE).exclude(pk__in=members).order_by("name")
    )
    return plan


def _version_to_run(rule: Rule) -> Any:
    return rule.current_version or rule.latest_version()


@dataclass
class Switched:
    started: list[str]
    stopped: list[str]
    skipped: list[str]
    plans_changed: int  # plans moved to the running version or ended, as in_flight said


def switch_to(
    strategy_set: StrategySet,
    *,
    actor: Any = None,
    comment: str = "",
    in_flight: str = InFlight.KEEP,
    now: datetime | None = None,
) -> Switched:
    """Run exactly the rules of ``strategy_set`` (the others that run are paused) and make it
    the active set. ``in_flight`` is what happens to customers part-way through: ``keep``
    (plans of the rules that stop wait, as for any paused rule), ``move`` (plans on older
    versions of the rules that start go on with the running version) or ``end`` (those, and
    the plans of the rules that stop, end now)."""
    if in_flight not in InFlight.choices:
        raise SetError("in_flight", _("Choose what happens to customers part-way through."))
    now = now or timezone.now()
    with transaction.atomic():
        # Every set is locked, not only this one, so that two switches at once run one after
        # the other and the second sees the first's active set (at most one may be active).
        list(StrategySet.objects.select_for_update().order_by("pk").values_list("pk"))
        strategy_set = StrategySet.objects.get(pk=strategy_set.pk)
        plan = plan_switch(strategy_set)
        note = f"{strategy_set.name}: {comment}" if comment else strategy_set.name
        changed = 0
        for rule in plan.start:
            if rule.status == Rule.Status.PAUSED and rule.current_version is not None:
                resume([rule], now=now, actor=actor, comment=note)
                continue
            version = _version_to_run(rule)
            changed += activate(
                rule,
                version,
                in_flight=in_flight,
                now=now,
                actor=actor,
                comment=note,
                action=RuleChange.Action.SWITCHED,
            )
        pause(plan.stop, actor=actor, comment=note)
        if in_flight == InFlight.END and plan.stop:
            changed += _end_plans(plan.stop, now)
        StrategySet.objects.filter(is_active=True).exclude(pk=strategy_set.pk).update(
            is_active=False, updated_at=now
        )
        strategy_set.is_active = True
        strategy_set.activated_at = now
        strategy_set.save(update_fields=["is_active", "activated_at", "updated_at"])
    return Switched(
        started=[rule.key for rule in plan.start],
        stopped=[rule.key for rule in plan.stop],
        skipped=[rule.key for rule in plan.skipped],
        plans_changed=changed,
    )


def _end_plans(rules: list[Rule], now: datetime) -> int:
    running = Enrollment.objects.filter(
        rule__in=rules, status=Enrollment.Status.ACTIVE
    ).values_list("pk", flat=True)
    return end_enrollments(list(running), Enrollment.Status.ENDED, END_REASON, now)


def running_plans(rules: list[Rule]) -> int:
    """Customers part-way through ``rules`` (what the in-flight choice applies to)."""
    if not rules:
        return 0
    return Enrollment.objects.filter(rule__in=rules, status=Enrollment.Status.ACTIVE).count()


# Preview -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One figure now and after the switch."""

    now: int
    after: int

    @property
    def changed(self) -> bool:
        return self.now != self.after

    @property
    def delta(self) -> int:
        return self.after - self.now

    def __add__(self, other: Cell) -> Cell:
        return Cell(self.now + other.now, self.after + other.after)


@dataclass
class Row:
    label: str  # the day (ISO date), or "" for the totals
    enrollments: Cell
    messages: list[Cell]  # one per channel of SwitchPreview.channels
    tasks: Cell
    deferrals: Cell
    drops: Cell


@dataclass
class Reason:
    code: str
    label: str
    deferrals: Cell
    drops: Cell


@dataclass
class SwitchPreview:
    plan: Plan
    start: datetime
    days: int
    current: dict[str, Any]  # simulate()'s report with the rules that run now
    proposed: dict[str, Any]  # … and with the rules of the set
    channels: list[tuple[str, str]]  # (code, label)
    rows: list[Row]
    totals: Row
    reasons: list[Reason]
    plans_stopping: int  # customers part-way through the rules that would stop
    missing_templates: list[str]


def preview_switch(
    strategy_set: StrategySet, *, days: int = 14, start: datetime | None = None
) -> SwitchPreview:
    """Simulate the next ``days`` twice — with the rules that run now and with the set's — and
    compare them day by day. Nothing is changed (each simulation is rolled back)."""
    start = start or timezone.now()
    plan = plan_switch(strategy_set)
    current = simulate(start, days)
    # Without a change the second simulation would only repeat the first.
    proposed = simulate(start, days, rules=plan.running_keys) if plan.changes else current
    channels = sorted(
        {c for report in (current, proposed) for day in report["days"] for c in day["messages"]}
    )
    rows = [_row(a, b, channels) for a, b in zip(current["days"], proposed["days"], strict=True)]
    totals = Row("", Cell(0, 0), [Cell(0, 0) for _c in channels], *(Cell(0, 0),) * 3)
    for row in rows:
        totals = Row(
            "",
            totals.enrollments + row.enrollments,
            [a + b for a, b in zip(totals.messages, row.messages, strict=True)],
            totals.tasks + row.tasks,
            totals.deferrals + row.deferrals,
            totals.drops + row.drops,
        )
    return SwitchPreview(
        plan=plan,
        start=start,
        days=days,
        current=current,
        proposed=proposed,
        channels=[(code, _channel_label(code)) for code in channels],
        rows=rows,
        totals=totals,
        reasons=_reasons(current, proposed),
        plans_stopping=running_plans(plan.stop),
        missing_templates=[f"{key} ({channel})" for key, channel in proposed["missing_templates"]],
    )


def _sum(counts: dict[str, int]) -> int:
    return sum(counts.values())


def _row(now: dict[str, Any], after: dict[str, Any], channels: list[str]) -> Row:
    return Row(
        label=now["date"],
        enrollments=Cell(now["enrollments"], after["enrollments"]),
        messages=[Cell(now["messages"].get(c, 0), after["messages"].get(c, 0)) for c in channels],
        tasks=Cell(now["tasks"], after["tasks"]),
        deferrals=Cell(_sum(now["deferrals"]), _sum(after["deferrals"])),
        drops=Cell(_sum(now["drops"]), _sum(after["drops"])),
    )


def _reasons(current: dict[str, Any], proposed: dict[str, Any]) -> list[Reason]:
    """Holds and drops over the whole window, per reason."""

    def count(report: dict[str, Any], kind: str, code: str) -> int:
        return sum(day[kind].get(code, 0) for day in report["days"])

    codes = sorted(
        {
            code
            for report in (current, proposed)
            for day in report["days"]
            for kind in ("deferrals", "drops")
            for code in day[kind]
        }
    )
    labels = dict(Why.choices)
    return [
        Reason(
            code,
            str(labels.get(code, code)),
            Cell(count(current, "deferrals", code), count(proposed, "deferrals", code)),
            Cell(count(current, "drops", code), count(proposed, "drops", code)),
        )
        for code in codes
    ]


def _channel_label(code: str) -> str:
    try:
        return str(Channel(code).label)
    except ValueError:
        return code


# Scheduled switches ---------------------------------------------------------------------------


def schedule_switch(
    strategy_set: StrategySet,
    *,
    at: datetime,
    actor: Any = None,
    comment: str = "",
    in_flight: str = InFlight.KEEP,
    now: datetime | None = None,
) -> ScheduledSwitch:
    """Switch to ``strategy_set`` at ``at`` (aware; stored in UTC)."""
    now = now or timezone.now()
    if timezone.is_naive(at):
        raise SetError("at", _("Give the time with its time zone."))
    if at <= now:
        raise SetError("at", _("Choose a time in the future."))
    if in_flight not in InFlight.choices:
        raise SetError("in_flight", _("Choose what happens to customers part-way through."))
    return ScheduledSwitch.objects.create(
        strategy_set=strategy_set,
        at=at,
        in_flight=in_flight,
        comment=comment[:200],
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def cancel_switch(switch: ScheduledSwitch, *, actor: Any = None) -> bool:
    """Cancel a pending switch; False when it already ran or was cancelled."""
    return bool(
        ScheduledSwitch.objects.filter(pk=switch.pk, status=ScheduledSwitch.Status.PENDING).update(
            status=ScheduledSwitch.Status.CANCELLED,
            cancelled_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
    )


def _due(now: datetime) -> QuerySet[ScheduledSwitch]:
    due = ScheduledSwitch.objects.filter(
        status=ScheduledSwitch.Status.PENDING, at__lte=now
    ).order_by("at", "id")
    if connection.features.has_select_for_update_skip_locked:
        # Another scheduler by mistake skips the switches this one holds instead of waiting.
        due = due.select_for_update(skip_locked=True)
    return due


def run_due_switches(now: datetime | None = None) -> list[ScheduledSwitch]:
    """Perform the pending switches whose time has come; returns those it handled.

    Idempotent: a switch is claimed by a conditional update from ``pending`` in the same
    transaction that performs it, so running this twice, or on two schedulers at once, switches
    once. When several are due at once (after downtime) only the latest runs; the earlier ones
    are cancelled as superseded by it. A switch that fails is marked ``failed`` with the error,
    and the rules stay as they were.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(_due(now))
        if not due:
            return []
        *earlier, latest = due
        pending = ScheduledSwitch.objects.filter(status=ScheduledSwitch.Status.PENDING)
        if not pending.filter(pk=latest.pk).update(status=ScheduledSwitch.Status.DONE, done_at=now):
            return []
        pending.filter(pk__in=[s.pk for s in earlier]).update(
            status=ScheduledSwitch.Status.CANCELLED, superseded_by=latest, done_at=now
        )
        try:
            with transaction.atomic():
                switch_to(
                    latest.strategy_set,
                    actor=latest.created_by,
                    comment=latest.comment,
                    in_flight=latest.in_flight,
                    now=now,
                )
        except Exception as exc:  # any failure is recorded on the switch, never lost
            log.exception("scheduled switch %s failed", latest.pk)
            ScheduledSwitch.objects.filter(pk=latest.pk).update(
                status=ScheduledSwitch.Status.FAILED, error=str(exc)[:2000] or repr(exc)
            )
    for switch in due:
        switch.refresh_from_db()
    return due
