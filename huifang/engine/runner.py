"""The claim loop: due steps in, follow-ups out, each processed exactly once.

1. **Claim** a batch of due rows with a lease: one conditional ``UPDATE … WHERE status='due'``
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers never wait for each other's rows; on
   SQLite the write lock serialises claims). Rows whose lease expired, because their worker died,
   are claimed again.
2. **Process** the batch in one transaction that first marks the rows done *only if they are
   still ours* (same claim token, still claimed). A worker that lost its lease processes nothing;
   a worker killed mid-batch rolls back and its rows are claimed again after the lease.
3. Everything the batch produces (messages through the contact-pressure gate, tasks, the next
   due rows, enrollment state) is written with a handful of set-based statements. Messages the
   gate releases are queued for the dispatcher (``huifang.messaging.dispatch``), which renders
   them and hands them to their providers outside any transaction.

Due work is judged against the database clock (or a virtual clock in simulation and tests).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from huifang.accounts.models import Team
from huifang.core import rows
from huifang.core.clock import Clock, DatabaseClock, worker_name
from huifang.customers.models import Customer
from huifang.messaging.gate import DEFER, SEND, Gate, cap_window
from huifang.messaging.models import Message, Reason
from huifang.organisation.business_calendar import BusinessCalendar
from huifang.organisation.zones import zone
from huifang.rules.conditions import ConditionError, compile_condition
from huifang.rules.document import Duration, Step, TaskStep
from huifang.rules.models import Rule
from huifang.rules.plans import Plan, after, channels_of, counts_days, fixed, plan
from huifang.surveys.services import sendable_version
from huifang.tasks.models import Task
from huifang.tasks.services import Opening, open_tasks, sla_duration

from . import lifecycle
from .lifecycle import Progress
from .models import DueStep, Enrollment

logger = logging.getLogger("huifang.engine")

TABLE = DueStep._meta.db_table
ENROLLMENTS = Enrollment._meta.db_table
CUSTOMERS = Customer._meta.db_table


def _sql_time(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def claim(
    now: datetime, *, limit: int, lease: timedelta, token: str, expired: bool = False
) -> list[int]:
    """Claim up to ``limit`` due rows (or rows with an expired lease) for ``token``."""
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    if expired:
        pick = (
            f"SELECT id FROM {TABLE} WHERE status = 'claimed' AND lease_until < %s "  # noqa: S608
            f"ORDER BY lease_until LIMIT %s{skip_locked}"
        )
    else:
        pick = (
            f"SELECT id FROM {TABLE} WHERE status = 'due' AND due_at <= %s "  # noqa: S608
            f"ORDER BY due_at, id LIMIT %s{skip_locked}"
        )
    sql = (
        f"UPDATE {TABLE} SET status = 'claimed', lease_until = %s, claimed_by = %s, "  # noqa: S608
        f"claims = claims + 1 WHERE id IN ({pick}) RETURNING id"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [_sql_time(now + lease), token, _sql_time(now), limit])
        return [row[0] for row in cursor.fetchall()]


@dataclass(slots=True)
class Due:
    """A claimed due row as the batch reads it (plain values: no model instance per row)."""

    pk: int
    enrollment_id: int
    kind: str
    step: str
    due_at: datetime
    message_id: int | None
    message: Message | None = None


@dataclass(slots=True)
class Live:
    """An enrollment as the batch moves it on; written back with one UPDATE per outcome."""

    pk: int
    rule_id: int
    version_id: int
    customer_id: int
    status: str
    step: str
    waiting: str
    end_reason: str
    rule_status: str


def _take(ids: Sequence[int], token: str, now: datetime) -> list[Due]:
    """Mark our claimed rows done, inside the processing transaction; rows we lost are skipped."""
    if not ids:
        return []
    where, params = rows.id_in("id", ids)
    taken = rows.fetch(
        f"UPDATE {TABLE} SET status = 'done', done_at = %s, lease_until = NULL "  # noqa: S608
        f"WHERE status = 'claimed' AND claimed_by = %s AND {where} "
        "RETURNING id, enrollment_id, kind, step, due_at, message_id",
        [_sql_time(now), token, *params],
    )
    dues = [
        Due(pk, enrollment_id, kind, step, rows.from_db_time(due_at), message_id)  # type: ignore[arg-type]
        for pk, enrollment_id, kind, step, due_at, message_id in taken
    ]
    dues.sort(key=lambda due: (due.due_at, due.pk))
    with_message = [due.message_id for due in dues if due.message_id is not None]
    if with_message:
        messages = Message.objects.in_bulk(with_message)
        for due in dues:
            if due.message_id is not None:
                due.message = messages.get(due.message_id)
    return dues


def process(ids: Sequence[int], token: str, clock: Clock) -> int:
    """Process claimed rows; returns how many were still ours."""
    with transaction.atomic():
        now = clock.now()
        dues = _take(ids, token, now)
        if dues:
            Batch(now).run(dues)
    return len(dues)


def run_once(
    clock: Clock | None = None, *, limit: int | None = None, lease: timedelta | None = None
) -> int:
    """Claim and process one batch (expired leases first); returns the rows processed."""
    clock = clock or DatabaseClock()
    limit = limit or settings.HUIFANG_ENGINE_BATCH
    lease = lease or timedelta(seconds=settings.HUIFANG_ENGINE_LEASE_SECONDS)
    token = f"{worker_name()}:{secrets.token_hex(4)}"
    now = clock.now()
    ids = claim(now, limit=limit, lease=lease, token=token, expired=True)
    if len(ids) < limit:
        ids += claim(now, limit=limit - len(ids), lease=lease, token=token)
    return process(ids, token, clock) if ids else 0


def run_until_idle(clock: Clock | None = None, *, limit: int | None = None) -> int:
    """Process batches until nothing is due (tests, simulation, ``huifang engine --once``)."""
    total = 0
    while True:
        done = run_once(clock, limit=limit)
        total += done
        if done == 0:
            return total


def loop(stop: threading.Event, clock: Clock | None = None) -> None:
    """The worker's claim loop: full batches back to back, otherwise a short nap (≤ 1 s)."""
    pause = settings.HUIFANG_ENGINE_POLL_MS / 1000
    limit = settings.HUIFANG_ENGINE_BATCH
    while not stop.is_set():
        try:
            done = run_once(clock, limit=limit)
        except Exception:
            logger.exception("engine batch failed; its rows are claimed again after the lease")
            close_old_connections()
            done = 0
            stop.wait(1)
        if done < limit:
            stop.wait(pause)
    close_old_connections()


@dataclass
class _Gated:
    message: Message
    enrollment: Live
    plan: Plan
    step: Step


def branch_target(
    customer_id: int, step: Step, now: datetime, replies: Sequence[int] = ()
) -> str | None:
    """The step the first matching ``branch`` condition leads to, if any (one query each).
    ``replies`` are the reply events that moved a step waiting for one: ``answer.*`` fields
    judge the scores in them (none when the wait timed out, so those never match then)."""
    for choice in step.branch or []:
        try:
            condition = compile_condition(
                choice.when, now=now, replies=replies if step.wait_reply else None
            )
        except ConditionError:
            continue
        if Customer.objects.filter(pk=customer_id).filter(condition).exists():
            return choice.goto
    return None


_VARIABLE = re.compile(r"\{\{\s*([^{}\s]+)\s*\}\}")


def render_title(text: str, values: dict[str, str]) -> str:
    """Task titles name the customer (``{{客户姓名}}``); a plain substitution, never code."""
    return _VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass
class Batch:
    """Everything one batch of due rows does, written with a few statements at the end."""

    now: datetime
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar.load)
    enrollments: dict[int, Live] = field(default_factory=dict)
    zones: dict[int, str] = field(default_factory=dict)
    gated: list[_Gated] = field(default_factory=list)
    new_messages: list[Message] = field(default_factory=list)
    old_messages: list[Message] = field(default_factory=list)
    tasks: list[tuple[Task, TaskStep]] = field(default_factory=list)
    due: list[DueStep] = field(default_factory=list)
    changed: dict[int, Live] = field(default_factory=dict)
    missed: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    surveys: dict[str, int | None] = field(default_factory=dict)  # key -> version to send

    def run(self, dues: Sequence[Due]) -> None:
        self.load({due.enrollment_id for due in dues})
        for due in dues:
            enrollment = self.enrollments.get(due.enrollment_id)
            if enrollment is None or enrollment.status != Enrollment.Status.ACTIVE:
                if due.message is not None and due.message.status == Message.Status.DEFERRED:
                    self.cancel_message(due.message)
                continue
            current = plan(enrollment.version_id)
            step = current.steps.get(due.step)
            if step is None:  # moved to a version without this step
                self.end(enrollment, Enrollment.Status.ENDED, "step_removed")
                continue
            late = self.now - due.due_at > current.grace
            if due.kind == DueStep.Kind.RUN:
                self.run_step(due, enrollment, current, step, late)
            elif due.kind == DueStep.Kind.SEND:
                self.retry_send(due, enrollment, current, step, late)
            elif enrollment.step == due.step and enrollment.waiting in ("reply", "time"):
                # The next step was due when the wait ended, not when a worker got to it, so
                # a wait that ended during downtime passes its lateness on (misfire grace).
                self.advance(enrollment, current, step, at=due.due_at)
        self.gate()
        self.flush()

    def load(self, ids: Iterable[int]) -> None:
        where, params = rows.id_in("id", list(ids))
        found = rows.fetch(
            "SELECT id, rule_id, version_id, customer_id, status, step, waiting, end_reason "  # noqa: S608
            f"FROM {ENROLLMENTS} WHERE {where}",
            params,
        )
        # A handful of rules per batch: their statuses separately, so the planner never has a
        # join to get wrong on a freshly grown table.
        statuses = dict(
            Rule.objects.filter(pk__in={row[1] for row in found}).values_list("id", "status")
        )
        self.enrollments = {
            pk: Live(pk, rule, version, customer, status, step, waiting, reason, statuses[rule])
            for pk, rule, version, customer, status, step, waiting, reason in found
        }

    def zone_of(self, enrollment: Live) -> Any:
        """The customer's zone; the batch's zones are read the first time one is needed."""
        if not self.zones:
            where, params = rows.id_in(
                "id", sorted({e.customer_id for e in self.enrollments.values()})
            )
            self.zones = dict(
                rows.fetch(f"SELECT id, time_zone FROM {CUSTOMERS} WHERE {where}", params)  # noqa: S608
            )
        return zone(self.zones.get(enrollment.customer_id))

    def later(self, enrollment: Live, duration: Duration) -> datetime:
        """Now plus ``duration``; only days and business days need the customer's zone (they
        keep the customer's wall-clock time across a daylight-saving change)."""
        if not counts_days(duration):
            return self.now + fixed(duration)
        return after(self.now, duration, self.zone_of(enrollment), self.calendar)

    def touch(self, enrollment: Live) -> None:
        self.changed[enrollment.pk] = enrollment

    def schedule(
        self,
        enrollment: Live,
        kind: str,
        step: str,
        at: datetime,
        message: Message | None = None,
    ) -> None:
        self.due.append(
            DueStep(
                enrollment_id=enrollment.pk,
                kind=kind,
                step=step,
                due_at=at,
                message=message,
                status=(
                    DueStep.Status.PAUSED
                    if enrollment.rule_status == Rule.Status.PAUSED
                    else DueStep.Status.DUE
                ),
            )
        )

    # -- the kinds of due rows ---------------------------------------------------------------

    def run_step(self, due: Due, enrollment: Live, current: Plan, step: Step, late: bool) -> None:
        enrollment.step, enrollment.waiting = step.id, ""
        self.touch(enrollment)
        if step.task:
            self.add_task(due, enrollment, current, step)
        if not step.send:
            self.after_send(enrollment, current, step, delivered=False)
            return
        message = Message(
            customer_id=enrollment.customer_id,
            enrollment_id=enrollment.pk,
            rule_id=enrollment.rule_id,
            step=step.id,
            channels=channels_of(step.send),
            template=step.send.template,
            transactional=step.send.transactional,
            planned_at=due.due_at,
            created_at=self.now,
            source_key=f"due:{due.pk}",
            survey_version_id=self.survey_version(step.survey),
        )
        self.new_messages.append(message)
        self.offer(due, message, enrollment, current, step, late)

    def survey_version(self, key: str | None) -> int | None:
        """The questionnaire version a message of this step links to, pinned now (once per
        batch and key); ``None`` when the step names none or it was archived since."""
        if not key:
            return None
        if key not in self.surveys:
            version = sendable_version(key)
            self.surveys[key] = version.pk if version is not None else None
        return self.surveys[key]

    def retry_send(self, due: Due, enrollment: Live, current: Plan, step: Step, late: bool) -> None:
        message = due.message
        if message is None or message.status != Message.Status.DEFERRED:
            return
        self.old_messages.append(message)
        self.offer(due, message, enrollment, current, step, late)

    def offer(
        self,
        due: Due,
        message: Message,
        enrollment: Live,
        current: Plan,
        step: Step,
        late: bool,
    ) -> None:
        """Hand the message to the gate, or, when it is past the misfire grace, mark it
        missed and move on without it."""
        if late:
            self.missed.append(due.pk)
            self.drop(message, Reason.MISSED)
            self.after_send(enrollment, current, step, delivered=False)
        else:
            self.gated.append(_Gated(message, enrollment, current, step))

    def add_task(self, due: Due, enrollment: Live, current: Plan, step: Step) -> None:
        spec = step.task
        assert spec is not None
        task = Task(
            customer_id=enrollment.customer_id,
            enrollment_id=enrollment.pk,
            rule_id=enrollment.rule_id,
            step=step.id,
            title=spec.title,
            script=spec.script or "",
            priority=spec.priority,
            assign_strategy=spec.assign.strategy if spec.assign else "",
            # The questionnaire the agent fills in during the call (the step's ``survey``).
            survey_version_id=self.survey_version(step.survey),
            source_key=f"due:{due.pk}",
            created_at=self.now,
        )
        self.tasks.append((task, spec))

    # -- moving through the cadence ----------------------------------------------------------

    def after_send(self, enrollment: Live, current: Plan, step: Step, *, delivered: bool) -> None:
        if step.wait_reply and delivered:
            enrollment.waiting = Enrollment.Waiting.REPLY
            at = self.later(enrollment, step.wait_reply)
            self.schedule(enrollment, DueStep.Kind.TIMEOUT, step.id, at)
        elif step.wait:
            enrollment.waiting = Enrollment.Waiting.TIME
            at = self.later(enrollment, step.wait)
            self.schedule(enrollment, DueStep.Kind.TIMEOUT, step.id, at)
        else:
            self.advance(enrollment, current, step)
        self.touch(enrollment)

    def advance(
        self, enrollment: Live, current: Plan, step: Step, at: datetime | None = None
    ) -> None:
        self.touch(enrollment)
        if step.stop:
            self.end(enrollment, Enrollment.Status.COMPLETED, "stopped")
            return
        target = self.branch(enrollment, step) or current.following(step.id)
        if target is None:
            self.end(enrollment, Enrollment.Status.COMPLETED, "completed")
            return
        enrollment.step, enrollment.waiting = target, ""
        self.schedule(enrollment, DueStep.Kind.RUN, target, at or self.now)

    def branch(self, enrollment: Live, step: Step) -> str | None:
        return branch_target(enrollment.customer_id, step, self.now)

    def end(self, enrollment: Live, status: str, reason: str) -> None:
        enrollment.status, enrollment.end_reason = status, reason
        enrollment.waiting = ""
        self.ended.append(enrollment.pk)
        self.touch(enrollment)

    # -- messages ----------------------------------------------------------------------------

    def drop(self, message: Message, reason: str) -> None:
        message.status, message.reason, message.deferred_until = (
            Message.Status.DROPPED,
            reason,
            None,
        )
        message.decisions = [
            *message.decisions,
            {"at": self.now.isoformat(), "action": "drop", "reason": reason},
        ]

    def cancel_message(self, message: Message) -> None:
        message.status, message.reason, message.deferred_until = (
            Message.Status.CANCELLED,
            Reason.ENDED,
            None,
        )
        self.old_messages.append(message)

    def gate(self) -> None:
        if not self.gated:
            return
        gate = Gate(self.now, self.calendar)
        gate.load(
            (g.message.customer_id or 0 for g in self.gated), cap_window(g.plan for g in self.gated)
        )
        for item in sorted(self.gated, key=lambda g: (g.message.customer_id, g.message.planned_at)):
            message = item.message
            decision = gate.decide(message, item.plan)
            message.decisions = [*message.decisions, decision.as_record(self.now)]
            message.channel = decision.channel or message.channel
            message.reason = decision.reason
            if decision.action == SEND:
                # Released: the dispatcher renders and hands it to the channel's provider.
                message.status, message.deferred_until = Message.Status.QUEUED, None
                message.queued_at = message.ready_at = self.now
                gate.sent(message.customer_id or 0, decision.channel)
                self.after_send(item.enrollment, item.plan, item.step, delivered=True)
            elif decision.action == DEFER:
                assert decision.until is not None
                message.status, message.deferred_until = Message.Status.DEFERRED, decision.until
                message.holds += 1
                item.enrollment.waiting = Enrollment.Waiting.SEND
                self.touch(item.enrollment)
                self.schedule(
                    item.enrollment, DueStep.Kind.SEND, item.step.id, decision.until, message
                )
            else:
                message.status, message.deferred_until = Message.Status.DROPPED, None
                self.after_send(item.enrollment, item.plan, item.step, delivered=False)

    # -- writing it all ----------------------------------------------------------------------

    def flush(self) -> None:
        rows.insert(self.new_messages)
        if self.old_messages:
            for message in self.old_messages:
                message.changed_at = self.now  # the rollups redo the days it counts on
            rows.write(
                self.old_messages,
                [
                    "changed_at",
                    "status",
                    "channel",
                    "reason",
                    "deferred_until",
                    "holds",
                    "decisions",
                    "queued_at",
                    "ready_at",
                ],
            )
        if self.tasks:
            self.write_tasks()
        lifecycle.write_batch(
            self.now,
            missed=self.missed,
            ended=self.ended,
            scheduled=self.due,
            progress=[
                Progress(e.pk, e.status, e.step, e.waiting, e.end_reason)
                for e in self.changed.values()
            ],
        )

    def write_tasks(self) -> None:
        """Tasks are opened by the tasks app: team, SLA in working time, assignee, reminders."""
        customers = {
            cid: (name, owner_team)
            for cid, name, owner_team in Customer.objects.filter(
                pk__in={task.customer_id for task, _s in self.tasks}
            ).values_list("id", "name", "owner__staff_profile__team_id")
        }
        keys = {spec.assign.team for _t, spec in self.tasks if spec.assign and spec.assign.team}
        teams = dict(Team.objects.filter(key__in=keys).values_list("key", "id")) if keys else {}
        openings = []
        for task, spec in self.tasks:
            name, owner_team = customers.get(task.customer_id, ("", None))
            task.title = render_title(task.title, {"客户姓名": name, "customer.name": name})[:200]
            named = spec.assign.team if spec.assign else None
            task.team_id = teams.get(named) if named else owner_team
            options = spec.assign.model_dump(include={"field", "map"}) if spec.assign else None
            openings.append(
                Opening(
                    task,
                    sla_duration(spec.sla) if spec.sla else None,
                    options if options and options.get("field") else None,
                )
            )
        open_tasks(openings, now=self.now, calendar=self.calendar)
