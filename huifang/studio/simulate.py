"""Simulation: the real engine on a virtual clock, over the current data, changing nothing.

Everything runs inside one transaction that is rolled back at the end, with every transport in
dry-run mode, so nothing is sent and nothing is kept. The customers' state is taken as of the
start: events, messages, enrollments and segment entries from after it are set aside, derived
figures are recomputed as of the start, and the events whose ``occurred_at`` falls inside the
window arrive again at that moment on the virtual clock. Consent and do-not-contact are judged
as they were at each moment: as of the start (from the ``consent_changed`` events before it;
do-not-contact set after it, by ``do_not_contact_at``, is off), and each change after the start
— consent recorded, withdrawn, do-not-contact set — is made again when the virtual clock reaches
it, a withdrawal (an ``unsubscribed`` event) cancelling the pending messages as it did in
earnest. A customer's reply recorded in the window (an SMS / e-mail reply) arrives again as a
reply: read, as inbound replies are, against the customer's latest message on that channel *in
the simulation* — so a reply "2" to a simulated message that asks for a score is that score,
and takes the rule's low-score branch. Stop words arrive as recorded (their consent change is
made again above). Segment triggers are evaluated every
virtual hour, date and recurring triggers at the start of each of the organisation's days (each
such evaluation schedules the day's starts at their own hour), and every due step is processed
at its due moment by the same runner the workers use. The same function backs the impact
preview of a rule before it is activated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from huifang.core import held, rows
from huifang.core.clock import VirtualClock
from huifang.customers import derived
from huifang.customers.consent import withdrawn
from huifang.customers.events import record_events
from huifang.customers.models import Channel, Consent, Customer, Event
from huifang.engine.lifecycle import activate, resume, rewind
from huifang.engine.models import DueStep, Enrollment, SegmentMember
from huifang.engine.runner import run_once
from huifang.engine.triggers import active_rules, evaluate, evaluate_scheduled, kinds
from huifang.engine.triggers.segment import members, next_change
from huifang.integrations import dry_run
from huifang.messaging import dispatch, inbound
from huifang.messaging.models import Message, MessageTemplate
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.zones import organisation_zone, zone
from huifang.rules.document import RuleDocument
from huifang.rules.models import Rule
from huifang.rules.plans import Plan
from huifang.rules.services import save_rule
from huifang.tasks.models import Task

from . import workload as impact

EVALUATE_EVERY = timedelta(hours=1)
# Evaluated at the start of each of the organisation's days: the scheduled kinds but segments.
DAILY = tuple(kind.key for kind in kinds if kind.scheduled and kind.key != "segment")
REPLY_TYPES = ("message_replied", "survey_answered")


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
    project: bool = False,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Run the engine from ``start`` for ``days`` days and report what it would do.

    With ``project``, the days ahead also get the events that event-triggered rules start on,
    as many as came in the same number of days before ``start``: each such event arrives
    again, ``days`` later (the impact preview of a rule; events still to come are otherwise
    unknown, and an event rule would show nothing). ``progress`` is told, at each moment, the
    share of the period simulated so far (0 to 1)."""
    if start.tzinfo is None:
        raise SimulationError("start needs a time zone offset")
    if not 1 <= days <= 366:
        raise SimulationError("days must be between 1 and 366")
    end = start + timedelta(days=days)
    with transaction.atomic(), dry_run():
        try:
            keys = _choose_rules(rules, documents, start)
            marks = _as_of(start)
            projected = _project(marks, start, end) if project else _no_projection()
            replies: list[dict[str, Any]] = []
            # From here on nobody changes the rules, the calendar or the staff: read them once.
            with held.block():
                _run(
                    start.astimezone(UTC),
                    end.astimezone(UTC),
                    marks.replay,
                    marks.contact,
                    replies,
                    progress,
                )
            report = _report(start, end, days, keys, marks.marks)
            return {**report, "replies": replies, "projected": projected}
        finally:
            transaction.set_rollback(True)


def _no_projection() -> dict[str, Any]:
    return {"types": [], "count": 0, "since": None}


def _project(marks: _Start, start: datetime, end: datetime) -> dict[str, Any]:
    """Add to the replay the recent events of the types the running event rules start on,
    moved forward by the window's length; returns what was projected, for the page."""
    types = sorted(
        {
            str(plan.document.trigger.event)
            for _rule, plan in active_rules()
            if plan.document.trigger.kind == "event"
        }
    )
    if not types:
        return _no_projection()
    span = end - start
    since = start - span
    recent = Event.objects.filter(type__in=types, occurred_at__gte=since, occurred_at__lt=start)
    copies = [
        Event(
            customer_id=e.customer_id,
            type=e.type,
            occurred_at=e.occurred_at + span,
            source=e.source,
            properties=e.properties,
            amount=e.amount,
            score=e.score,
            nps=e.nps,
            ces=e.ces,
        )
        for e in recent.order_by("occurred_at", "id")
    ]
    if copies:
        marks.replay = sorted([*marks.replay, *copies], key=lambda e: e.occurred_at)
    return {"types": types, "count": len(copies), "since": since}


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


@dataclass(frozen=True)
class _Contact:
    """A change of a customer's contact facts inside the window, made again on the virtual
    clock: a consent status on a channel, do-not-contact set, or a withdrawal's cancelling."""

    at: datetime
    customer_id: int
    kind: str  # CONSENT, DO_NOT_CONTACT or WITHDRAWN
    channel: str = ""
    status: str = ""
    channels: tuple[str, ...] | None = None  # a withdrawal's channels; None: every channel


CONSENT, DO_NOT_CONTACT, WITHDRAWN = "consent", "do_not_contact", "withdrawn"


@dataclass
class _Start:
    marks: _Marks
    replay: list[Event]
    contact: list[_Contact] = field(default_factory=list)


def _contact_as_of(start: datetime, replay: Sequence[Event]) -> list[_Contact]:
    """Set consent and do-not-contact back to what they were at ``start``; returns the changes
    made since, in order, to make again on the virtual clock."""
    changes: list[_Contact] = []
    for event in replay:
        props = event.properties or {}
        if event.type == "consent_changed" and props.get("channel"):
            changes.append(
                _Contact(
                    event.occurred_at,
                    event.customer_id,
                    CONSENT,
                    str(props["channel"]),
                    str(props.get("status", "")),
                )
            )
        elif event.type == "unsubscribed":
            every = props.get("scope") == "all"
            channels = None if every else tuple(str(c) for c in props.get("channels") or [])
            changes.append(
                _Contact(event.occurred_at, event.customer_id, WITHDRAWN, channels=channels)
            )
    later = list(
        Consent.objects.filter(recorded_at__gte=start).values_list(
            "id", "customer_id", "channel", "status", "recorded_at"
        )
    )
    # The current decision is a change too (it has its event, unless written some other way).
    changes += [
        _Contact(at, cid, CONSENT, channel, status) for _pk, cid, channel, status, at in later
    ]
    before: dict[tuple[int, str], str] = {}
    for cid, props in (
        Event.objects.filter(
            type="consent_changed",
            customer_id__in={row[1] for row in later},
            occurred_at__lt=start,
        )
        .order_by("occurred_at", "id")
        .values_list("customer_id", "properties")
    ):
        before[(cid, str((props or {}).get("channel", "")))] = str((props or {}).get("status"))
    at_start: dict[str, list[int]] = defaultdict(list)
    for pk, cid, channel, _status, _at in later:
        # No decision before the start: no consent then.
        at_start[before.get((cid, channel), Consent.Status.WITHDRAWN)].append(pk)
    for status, ids in at_start.items():
        Consent.objects.filter(pk__in=ids).update(status=status)
    since = list(
        Customer.objects.filter(do_not_contact=True, do_not_contact_at__gte=start).values_list(
            "id", "do_not_contact_at"
        )
    )
    Customer.objects.filter(pk__in=[cid for cid, _at in since]).update(do_not_contact=False)
    changes += [_Contact(at, cid, DO_NOT_CONTACT) for cid, at in since if at is not None]
    # At one moment: the decision first, then its consequences.
    order = {CONSENT: 0, DO_NOT_CONTACT: 1, WITHDRAWN: 2}
    return sorted(changes, key=lambda c: (c.at, order[c.kind]))


def _make_changes(changes: Sequence[_Contact]) -> None:
    for change in changes:
        if change.kind == CONSENT:
            Consent.objects.filter(customer_id=change.customer_id, channel=change.channel).update(
                status=change.status
            )
        elif change.kind == DO_NOT_CONTACT:
            Customer.objects.filter(pk=change.customer_id).update(do_not_contact=True)
        else:
            customer = Customer.objects.filter(pk=change.customer_id).first()
            if customer is not None:
                channels = None if change.channels is None else list(change.channels)
                withdrawn(customer, channels, change.at)


def _as_of(start: datetime) -> _Start:
    later = Event.objects.filter(occurred_at__gte=start)
    replay = list(later.order_by("occurred_at", "id"))
    contact = _contact_as_of(start, replay)
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
    return _Start(marks, replay, contact)


def _is_customer_reply(event: Event) -> bool:
    """A reply as the inbound endpoints record it: from a provider, with its channel and
    text (not a survey answered on the answer page, nor an event posted through the API)."""
    props = event.properties or {}
    return (
        event.type in REPLY_TYPES
        and event.source == Event.Source.WEBHOOK
        and isinstance(props.get("text"), str)
        and props.get("channel") in (Channel.SMS, Channel.EMAIL)
        and not inbound.is_stop(props["text"])
    )


def _arrive(events: Sequence[Event], now: datetime, replies: list[dict[str, Any]]) -> None:
    """Events arrive again; customers' replies through the inbound path, answering the
    simulated message (the recorded one named a message the simulation set aside)."""
    others = [event for event in events if not _is_customer_reply(event)]
    if others:
        record_events(others, now=now)
    for event in events:
        if not _is_customer_reply(event):
            continue
        props = event.properties or {}
        channel, text = str(props["channel"]), str(props["text"])
        customer = Customer.objects.filter(pk=event.customer_id).first()
        if customer is None:
            continue
        asked = inbound.last_message(channel, [customer.pk])
        stored = inbound.record_reply(
            customer,
            channel,
            text,
            received_at=event.occurred_at,
            message_id=asked.pk if asked is not None else None,
            now=now,
        )
        stored_props = stored.properties or {}
        metric = stored_props.get("asked")
        replies.append(
            {
                "customer": {"id": customer.pk, "name": customer.name},
                "at": _local(event.occurred_at, customer.time_zone),
                "channel": channel,
                "text": text,
                "answers": asked.template if asked is not None else "",
                "metric": metric or "",
                "score": stored_props.get(metric) if metric else None,
            }
        )


class _Segments:
    """The hourly look at the segment rules: a rule is evaluated only when its members may
    have changed since its last evaluation — the clock reached the moment a part of its
    conditions counted back from now turns for someone (``next_change``), or the data of a
    customer changed (an event arrived, a consent or do-not-contact change was made again;
    nothing else in a simulation writes a customer) and that customer is in now and was not,
    or the other way round. Any other hour the evaluation would find the members it found last
    time and enroll nobody, so leaving it out changes nothing but the time taken."""

    def __init__(self, rules: list[tuple[Rule, Plan]]) -> None:
        self.rules = rules
        self.turns: dict[int, datetime | None] = {}
        self.changed: set[int] = set()  # customers whose data changed since the last look
        self.calendar = BusinessCalendar.load()  # a segment's evaluation does not look at it

    def data_changed(self, customers: Iterable[int]) -> None:
        self.changed.update(customers)

    def evaluate(self, now: datetime) -> None:
        for rule, current in self.rules:
            turn = self.turns.get(rule.pk, now)
            if (turn is not None and turn <= now) or self.moved(rule, current, now):
                evaluate(rule, now, calendar=self.calendar)
                self.turns[rule.pk] = next_change(current, now)
        self.changed.clear()

    def moved(self, rule: Rule, current: Plan, now: datetime) -> bool:
        """Whether a customer whose data changed entered or left the segment."""
        if not self.changed:
            return False
        ids = sorted(self.changed)
        inside = set(members(current, now).filter(pk__in=ids).values_list("pk", flat=True))
        kept = set(
            SegmentMember.objects.filter(rule=rule, customer_id__in=ids).values_list(
                "customer_id", flat=True
            )
        )
        return inside != kept


def _run(
    start: datetime,
    end: datetime,
    replay: list[Event],
    contact: list[_Contact],
    replies: list[dict[str, Any]],
    progress: Callable[[float], None] | None = None,
) -> None:
    """Move the virtual clock from moment to moment — the hourly evaluation of scheduled rules,
    an event or a contact change made again, a due step, a message ready — and let the engine
    and the dispatcher do at each what they would. The rules that run are fixed for the whole
    window, so with none scheduled there are no hourly moments; the engine and the dispatcher
    are asked only when something of theirs is due (each ask costs queries, hundreds of times
    over a month)."""
    clock = VirtualClock(start)
    running = {plan.document.trigger.kind for _r, plan in active_rules()}
    scheduled = any(kinds[kind].scheduled for kind in running)
    # Segments are looked at hourly: who is in one changes with the data and with the clock.
    # Date and recurring triggers are evaluated once a day, at the start of the
    # organisation's day: each evaluation schedules today's and tomorrow's starts at their own
    # hour, so later evaluations that day would find nobody new (the scheduler's 15-minute
    # checks are for a live system, where rules and customers change under it).
    segments = _Segments(active_rules("segment"))
    next_tick = start if scheduled else end
    next_day = start
    dispatcher = dispatch.Dispatcher(clock, keep=True)
    position = changed = 0
    try:
        while True:
            now = clock.now()
            if progress is not None:
                progress((now - start) / (end - start))
            if changed < len(contact) and contact[changed].at <= now:
                made = changed
                while changed < len(contact) and contact[changed].at <= now:
                    changed += 1
                _make_changes(contact[made:changed])
                segments.data_changed(c.customer_id for c in contact[made:changed])
            arrived = []
            while position < len(replay) and replay[position].occurred_at <= now:
                arrived.append(replay[position])
                position += 1
            if arrived:
                _arrive(arrived, now, replies)
                segments.data_changed(event.customer_id for event in arrived)
            if now >= next_tick:
                if now >= next_day:
                    evaluate_scheduled(now, only=DAILY)
                    next_day = _next_day(now)
                segments.evaluate(now)
                next_tick = min(now + EVALUATE_EVERY, next_day) if segments.rules else next_day
            # Batch after batch while work is due (a batch may schedule the next step now).
            due, ready = _pending()
            while due is not None and due <= now and run_once(clock):
                due, ready = _pending()
            while ready is not None and ready <= now and dispatcher.run_once():
                due, ready = _pending()
            moments = [next_tick]
            if position < len(replay):
                moments.append(replay[position].occurred_at)
            if changed < len(contact):
                moments.append(contact[changed].at)
            if due is not None:
                moments.append(max(due, now))
            if ready is not None:
                moments.append(max(ready, now))
            following = min(moments)
            if following >= end:
                break
            clock.set(max(following, now))
    finally:
        dispatcher.close()


def _next_day(now: datetime) -> datetime:
    """The start of the organisation's next day after ``now``."""
    local = now.astimezone(organisation_zone())
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=local.tzinfo)
    return midnight.astimezone(UTC)


def _pending() -> tuple[datetime | None, datetime | None]:
    """When the first due step is due and the first queued message is ready (one query: the
    loop asks at every moment)."""
    ((due, ready),) = rows.fetch(
        f"SELECT (SELECT MIN(due_at) FROM {DueStep._meta.db_table} WHERE status = %s), "  # noqa: S608
        f"(SELECT MIN(ready_at) FROM {Message._meta.db_table} WHERE status = %s)",
        [DueStep.Status.DUE, Message.Status.QUEUED],
    )
    return rows.from_db_time(due), rows.from_db_time(ready)


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
        "tasks": _tasks(marks.task, rules),
        # How the plans started in the period stand at its end, per rule.
        "outcomes": _outcomes(marks.enrollment, rules),
        "caps": caps,
        "over_cap": impact.over_cap(start, end, caps),
        # Sent in the simulation, but in earnest they would be dropped: no text to send.
        "missing_templates": sorted(
            {(s["template"], s["channel"]) for s in sends}
            - set(MessageTemplate.objects.values_list("key", "channel"))
        ),
    }


def _tasks(after: int, rules: dict[int, str]) -> list[dict[str, Any]]:
    """The tasks opened in the period: whom for, by which rule and step."""
    tasks = Task.objects.filter(pk__gt=after).select_related("customer").order_by("created_at")
    return [
        {
            "customer": {
                "id": task.customer_id,
                "name": task.customer.name if task.customer else "",
            },
            "rule": rules.get(task.rule_id or 0, ""),
            "step": task.step,
            "title": task.title,
            "at": _local(task.created_at, task.customer.time_zone if task.customer else "UTC"),
        }
        for task in tasks
    ]


def _outcomes(after: int, rules: dict[int, str]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for rule_id, status, reason in Enrollment.objects.filter(pk__gt=after).values_list(
        "rule_id", "status", "end_reason"
    ):
        counts[rules.get(rule_id, "")][f"{status}:{reason}" if reason else status] += 1
    return {rule: dict(sorted(found.items())) for rule, found in sorted(counts.items())}


def preview(
    document: RuleDocument, *, days: int = 14, start: datetime | None = None
) -> dict[str, Any]:
    """The impact of a rule before it is activated: what it would do over the next ``days``."""
    return simulate(start or timezone.now(), days, documents=[document])
