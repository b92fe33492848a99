"""Simulation: the real engine on a virtual clock, over the current data, changing nothing.

Everything runs inside one transaction that is rolled back at the end, with every transport in
dry-run mode, so nothing is sent and nothing is kept. The customers' state is taken as of the
start: events, messages, enrollments and segment entries from after it are set aside, derived
figures are recomputed as of the start, and the events whose ``occurred_at`` falls inside the
window arrive again at that moment on the virtual clock. Scheduled triggers are evaluated every
virtual hour, and every due step is processed at its due moment by the same runner the workers
use. The same function backs the impact preview of a rule before it is activated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from huifang.core.clock import VirtualClock
from huifang.customers import derived
from huifang.customers.events import record_events
from huifang.customers.models import Event
from huifang.engine.lifecycle import activate, resume, rewind
from huifang.engine.models import DueStep, Enrollment, SegmentMember
from huifang.engine.runner import run_until_idle
from huifang.engine.triggers import evaluate_scheduled
from huifang.integrations import dry_run
from huifang.messaging import dispatch
from huifang.messaging.models import Message, MessageTemplate
from huifang.organisation.zones import organisation_zone, zone
from huifang.rules.document import RuleDocument
from huifang.rules.models import Rule
from huifang.rules.services import save_rule
from huifang.tasks.models import Task

from . import workload as impact

EVALUATE_EVERY = timedelta(hours=1)


class SimulationError(ValueError):
    pass


@dataclass
class _Marks:
    message: int
    enrollment: int
    task: int


def _max_id(model: Any) -> int:
    return int(model.objects.aggregate(m=Max("id"))["m"] or 0)


def simulate(
    start: datetime,
    days: int,
    *,
    rules: Sequence[str] | None = None,
    documents: Sequence[RuleDocument] = (),
) -> dict[str, Any]:
    """Run the engine from ``start`` for ``days`` days and report what it would do."""
    if start.tzinfo is None:
        raise SimulationError("start needs a time zone offset")
    if not 1 <= days <= 366:
        raise SimulationError("days must be between 1 and 366")
    end = start + timedelta(days=days)
    with transaction.atomic(), dry_run():
        try:
            keys = _choose_rules(rules, documents, start)
            marks = _as_of(start)
            _run(start.astimezone(UTC), end.astimezone(UTC), marks.replay)
            return _report(start, end, days, keys, marks.marks)
        finally:
            transaction.set_rollback(True)


def _choose_rules(
    rules: Sequence[str] | None, documents: Sequence[RuleDocument], start: datetime
) -> list[str]:
    """Only the chosen rules run: the active ones by default, or the named ones (drafts too),
    or the documents given (saved and activated inside the simulation only) together with the
    named ones."""
    if documents:
        keys = []
        for document in documents:
            saved = save_rule(document, comment="simulation")
            activate(saved.rule, saved.version, now=start)
            keys.append(saved.rule.key)
        rules = [*(rules or []), *keys]
    if rules is not None:
        found = {rule.key: rule for rule in Rule.objects.filter(key__in=rules)}
        missing = sorted(set(rules) - set(found))
        if missing:
            raise SimulationError(f"no rule with the key(s): {', '.join(missing)}")
        for rule in found.values():
            if rule.status == Rule.Status.PAUSED and rule.current_version is not None:
                # activate() leaves a paused rule paused; run it as resuming it would.
                resume([rule], now=start)
            elif rule.status != Rule.Status.ACTIVE:
                version = rule.current_version or rule.latest_version()
                assert version is not None
                activate(rule, version, now=start)
        Rule.objects.exclude(key__in=rules).filter(status=Rule.Status.ACTIVE).update(
            status=Rule.Status.PAUSED
        )
    return sorted(Rule.objects.filter(status=Rule.Status.ACTIVE).values_list("key", flat=True))


@dataclass
class _Start:
    marks: _Marks
    replay: list[Event]


def _as_of(start: datetime) -> _Start:
    later = Event.objects.filter(occurred_at__gte=start)
    replay = list(later.order_by("occurred_at", "id"))
    affected = {event.customer_id for event in replay}
    # Plans started by those events start again when the events arrive again.
    rewind(start, events=later)
    later.delete()
    Message.objects.filter(created_at__gte=start).delete()
    Task.objects.filter(created_at__gte=start).delete()
    SegmentMember.objects.filter(entered_at__gte=start).delete()
    if affected:
        derived.refresh(affected, now=start)
    marks = _Marks(_max_id(Message), _max_id(Enrollment), _max_id(Task))
    return _Start(marks, replay)


def _run(start: datetime, end: datetime, replay: list[Event]) -> None:
    clock = VirtualClock(start)
    next_tick = start
    position = 0
    while True:
        now = clock.now()
        arrived = []
        while position < len(replay) and replay[position].occurred_at <= now:
            arrived.append(replay[position])
            position += 1
        if arrived:
            record_events(arrived, now=now)
        if now >= next_tick:
            evaluate_scheduled(now)
            next_tick = now + EVALUATE_EVERY
        run_until_idle(clock)
        dispatch.run_until_idle(clock)
        moments = [next_tick]
        if position < len(replay):
            moments.append(replay[position].occurred_at)
        due = DueStep.objects.filter(status=DueStep.Status.DUE).aggregate(m=Min("due_at"))["m"]
        if due is not None:
            moments.append(max(due, now))
        ready = Message.objects.filter(status=Message.Status.QUEUED).aggregate(m=Min("ready_at"))
        if ready["m"] is not None:
            moments.append(max(ready["m"], now))
        following = min(moments)
        if following >= end:
            break
        clock.set(max(following, now))


def _local(moment: datetime, zone_name: str) -> str:
    return moment.astimezone(zone(zone_name)).isoformat(timespec="minutes")


def _report(
    start: datetime, end: datetime, days: int, keys: list[str], marks: _Marks
) -> dict[str, Any]:
    org = organisation_zone()
    first_day = start.astimezone(org).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(org).date()
    per_day: dict[str, dict[str, Any]] = {
        (first_day + timedelta(days=n)).isoformat(): {
            "enrollments": 0,
            "messages": Counter(),
            "tasks": 0,
            "deferrals": Counter(),
            "drops": Counter(),
        }
        for n in range((last_day - first_day).days + 1)
    }

    def day_of(moment: datetime) -> str | None:
        if not start <= moment < end:
            return None
        key = moment.astimezone(org).date().isoformat()
        return key if key in per_day else None

    def bucket(moment: datetime) -> dict[str, Any] | None:
        key = day_of(moment)
        return None if key is None else per_day[key]

    for started in Enrollment.objects.filter(pk__gt=marks.enrollment).values_list(
        "started_at", flat=True
    ):
        if (day := bucket(started)) is not None:
            day["enrollments"] += 1
    for created in Task.objects.filter(pk__gt=marks.task).values_list("created_at", flat=True):
        if (day := bucket(created)) is not None:
            day["tasks"] += 1
    rules = dict(Rule.objects.values_list("id", "key"))
    messages = Message.objects.filter(pk__gt=marks.message).select_related("customer")
    sends: list[dict[str, Any]] = []
    deferrals: list[dict[str, Any]] = []
    for message in messages.order_by("id").iterator():
        customer = message.customer
        if customer is None:  # staff notifications are not part of a simulation's report
            continue
        common: dict[str, Any] = {
            "customer": {"id": customer.pk, "name": customer.name},
            "rule": rules.get(message.rule_id or 0, ""),
            "step": message.step,
        }
        for decision in message.decisions:
            at = datetime.fromisoformat(decision["at"])
            day = bucket(at)
            if decision["action"] == "defer":
                if day is not None:
                    day["deferrals"][decision["reason"]] += 1
                deferrals.append(
                    {
                        **common,
                        "at": _local(at, customer.time_zone),
                        "until": _local(
                            datetime.fromisoformat(decision["until"]), customer.time_zone
                        ),
                        "reason": decision["reason"],
                        "channel": decision.get("channel", ""),
                    }
                )
            elif decision["action"] == "drop" and day is not None:
                day["drops"][decision["reason"]] += 1
        sent = message.sent_at if message.status == Message.Status.SENT else None
        if sent is not None and (day := bucket(sent)) is not None:
            day["messages"][message.channel] += 1
            sends.append(
                {
                    **common,
                    "at": _local(sent, customer.time_zone),
                    "channel": message.channel,
                    "template": message.template,
                }
            )
    sends.sort(key=lambda s: (datetime.fromisoformat(s["at"]), s["customer"]["id"]))
    table = [
        {
            "date": date,
            "enrollments": day["enrollments"],
            "messages": dict(sorted(day["messages"].items())),
            "tasks": day["tasks"],
            "deferrals": dict(sorted(day["deferrals"].items())),
            "drops": dict(sorted(day["drops"].items())),
        }
        for date, day in per_day.items()
    ]
    totals: dict[str, Any] = defaultdict(int)
    reasons: dict[str, Counter[str]] = {"deferrals": Counter(), "drops": Counter()}
    for row in table:
        totals["enrollments"] += row["enrollments"]
        totals["tasks"] += row["tasks"]
        totals["messages"] += sum(row["messages"].values())
        totals["deferrals"] += sum(row["deferrals"].values())
        totals["drops"] += sum(row["drops"].values())
        reasons["deferrals"].update(row["deferrals"])
        reasons["drops"].update(row["drops"])
    caps = impact.caps_of(keys)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "rules": keys,
        "days": table,
        "totals": dict(totals),
        "sends": sends,
        "deferrals": deferrals,
        # Per reason over the whole period, most frequent first.
        "reasons": {kind: dict(counts.most_common()) for kind, counts in reasons.items()},
        "teams": impact.team_load(marks.task, list(per_day), day_of),
        "caps": caps,
        "over_cap": impact.over_cap(start, end, caps),
        # Sent in the simulation, but in earnest they would be dropped: no text to send.
        "missing_templates": sorted(
            {(s["template"], s["channel"]) for s in sends}
            - set(MessageTemplate.objects.values_list("key", "channel"))
        ),
    }


def preview(
    document: RuleDocument, *, days: int = 14, start: datetime | None = None
) -> dict[str, Any]:
    """The impact of a rule before it is activated: what it would do over the next ``days``."""
    return simulate(start or timezone.now(), days, documents=[document])
