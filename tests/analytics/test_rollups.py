"""The daily rollups equal a count over the raw rows, however the history arrives.

Random histories of messages (released, sent, delivered or failed, late delivery receipts,
dropped, held, clicked and replied to, out of order), tasks (opened, done on time or late,
cancelled) and questionnaire responses are written to the database as they stand at a series
of moments, with a refresh at each (and long gaps: downtime). After every refresh the rollups
equal the same figures counted in Python from the raw rows; at the end they equal a rebuild.

Each moment's writes happen at that moment (the clock is moved there): a change that moves no
timestamp (a failure receipt, a drop, a hold, a delivery dated days in the past) may come days
after the day it counts on, and the refresh finds it by when the row changed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.accounts.models import StaffProfile, Team
from huifang.analytics import rollup
from huifang.analytics.kpis import CUT_ROLLUPS
from huifang.analytics.models import AnswerDay, MessageDay, TaskDay, Watermark
from huifang.analytics.rollup import (
    ANSWER_MEASURES,
    CUTS,
    MESSAGE_MEASURES,
    TASK_MEASURES,
    rebuild,
    refresh,
)
from huifang.analytics.scope import ALL, TEAMS, Scope
from huifang.customers.models import Customer, Event
from huifang.messaging.models import Click, Message
from huifang.surveys.models import Response, Survey, SurveyVersion
from huifang.tasks.models import Task
from tests.analytics.cuts import assert_the_cuts_give_the_rollups_sums

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 15:30 UTC: 23:30 in Shanghai, so histories cross local midnights that UTC dates would miss.
BASE = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
HORIZON = 8 * 24 * 60  # minutes of history
REASONS = ["cap", "quiet_hours", "do_not_contact"]

minutes = st.integers(0, HORIZON)


def at(offset: int) -> datetime:
    return BASE + timedelta(minutes=offset)


def day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(SHANGHAI).date()


@dataclass
class MessagePlan:
    customer: int
    rule: int | None
    channel: str
    survey: bool
    created: int
    planned: int  # minutes after created
    held: bool
    drop: tuple[int, str] | None  # (minutes after planned, reason): never sent
    queued: int
    sent: int
    receipt: tuple[int, bool, int] | None  # (minutes after sent, delivered?, back-dated by)
    clicks: list[tuple[int, int]] = field(default_factory=list)  # (after sent, arrives after)
    replies: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class TaskPlan:
    customer: int
    team: int | None
    agent: int | None
    rule: int | None
    created: int
    due: int | None
    started: int | None
    closed: tuple[int, str, str] | None  # (minutes after created, status, outcome)


@dataclass
class ResponsePlan:
    customer: int | None
    channel: str
    rule: int | None
    team: int | None
    started: int
    submitted: int | None
    csat: int | None
    nps: int | None
    ces: int | None


up_to_three_days = st.integers(0, 3 * 24 * 60)
messages = st.builds(
    MessagePlan,
    customer=st.integers(0, 2),
    rule=st.sampled_from([None, 1, 2]),
    channel=st.sampled_from(["sms", "email"]),
    survey=st.booleans(),
    created=minutes,
    planned=st.integers(0, 600),
    held=st.booleans(),
    drop=st.none() | st.tuples(st.integers(0, 600), st.sampled_from(REASONS)),
    queued=st.integers(0, 120),
    sent=st.integers(0, 60),
    receipt=st.none() | st.tuples(st.integers(0, 3 * 24 * 60), st.booleans(), up_to_three_days),
    clicks=st.lists(
        st.tuples(st.integers(0, 4 * 24 * 60), st.integers(0, 2 * 24 * 60)), max_size=2
    ),
    replies=st.lists(
        st.tuples(st.integers(0, 4 * 24 * 60), st.integers(0, 2 * 24 * 60)), max_size=2
    ),
)
tasks = st.builds(
    TaskPlan,
    customer=st.integers(0, 2),
    team=st.sampled_from([None, 0, 1]),
    agent=st.sampled_from([None, 0, 1]),
    rule=st.sampled_from([None, 1]),
    created=minutes,
    due=st.none() | st.integers(60, 3 * 24 * 60),
    started=st.none() | st.integers(0, 24 * 60),
    closed=st.none()
    | st.tuples(
        st.integers(0, 5 * 24 * 60),
        st.sampled_from(["done", "cancelled"]),
        st.sampled_from(["", "reached", "not_reached"]),
    ),
)
responses = st.builds(
    ResponsePlan,
    customer=st.sampled_from([None, 0, 1, 2]),
    channel=st.sampled_from(["sms", "web"]),
    rule=st.sampled_from([None, 1]),
    team=st.sampled_from([None, 7]),
    started=minutes,
    submitted=st.none() | st.integers(0, 2 * 24 * 60),
    csat=st.none() | st.integers(1, 5),
    nps=st.none() | st.integers(0, 10),
    ces=st.none() | st.integers(1, 7),
)
# Refresh moments (minutes): gaps of up to three days are downtime.
moments = st.lists(st.integers(0, HORIZON + 6 * 24 * 60), min_size=1, max_size=10, unique=True)


@dataclass
class World:
    customers: list[Customer]
    teams: list[Team]
    agents: list[Any]
    version: SurveyVersion


@pytest.fixture
def world(db: None) -> World:
    return make_world()


def make_world() -> World:
    teams = [Team.objects.create(key=f"t{n}", name=f"Team {n}") for n in range(2)]
    agents = []
    for n, team in enumerate(teams):
        user = get_user_model().objects.create_user(f"agent{n}")
        StaffProfile.objects.create(user=user, team=team)
        agents.append(user)
    places = [("广东", "深圳", "vip"), ("浙江", "杭州", "regular"), ("", "", "regular")]
    customers = [
        Customer.objects.create(
            external_id=f"C-{n}",
            name=f"客户{n}",
            province=province,
            city=city,
            tier=tier,
            owner=agents[n] if n < 2 else None,
            business_line="家电" if n == 0 else "",
        )
        for n, (province, city, tier) in enumerate(places)
    ]
    survey = Survey.objects.create(key="after-sale", name="售后回访")
    version = SurveyVersion.objects.create(survey=survey, number=1, content={})
    return World(customers, teams, agents, version)


def _clear() -> None:
    for model in (
        Click,
        Event,
        Message,
        Task,
        Response,
        MessageDay,
        TaskDay,
        AnswerDay,
        *CUT_ROLLUPS.values(),
    ):
        model.objects.all().delete()
    Watermark.objects.all().delete()


class Writer:
    """Writes the plans to the database as they stand at a moment."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.messages: dict[int, int] = {}
        self.tasks: dict[int, int] = {}
        self.responses: dict[int, int] = {}
        self.arrived: set[tuple[str, int, int]] = set()
        self.written: dict[tuple[str, int], dict[str, Any]] = {}

    def write(self, now: int, plans: tuple[list[Any], list[Any], list[Any]]) -> None:
        with time_machine.travel(at(now), tick=False):
            self._write(now, plans)

    def changed(self, kind: str, n: int, state: dict[str, Any]) -> bool:
        """Whether ``state`` differs from what was last written (rows are updated only then,
        as the product does: an update says when it happened)."""
        if self.written.get((kind, n)) == state:
            return False
        self.written[(kind, n)] = state
        return True

    def _write(self, now: int, plans: tuple[list[Any], list[Any], list[Any]]) -> None:
        sends, jobs, answers = plans
        for n, plan in enumerate(sends):
            if plan.created <= now:
                self._message(n, plan, now)
        for n, job in enumerate(jobs):
            if job.created <= now:
                self._task(n, job, now)
        for n, answer in enumerate(answers):
            if answer.started <= now:
                self._response(n, answer, now)

    def _message(self, n: int, plan: MessagePlan, now: int) -> None:
        customer = self.world.customers[plan.customer]
        planned = plan.created + plan.planned
        state: dict[str, Any] = {"holds": int(plan.held and planned <= now)}
        if plan.drop is not None:
            dropped = planned + plan.drop[0]
            if dropped <= now:
                state |= {"status": "dropped", "reason": plan.drop[1]}
        else:
            queued = planned + plan.queued
            sent = queued + plan.sent
            if queued <= now:
                state["queued_at"] = at(queued)
            if sent <= now:
                state |= {"status": "sent", "sent_at": at(sent)}
            receipt = plan.receipt
            if sent <= now and receipt is not None and sent + receipt[0] <= now:
                arrived = sent + receipt[0]
                if receipt[1]:
                    dated = max(sent, arrived - receipt[2])
                    state |= {"status": "delivered", "delivered_at": at(dated)}
                else:  # a failure receipt, however late: no time of its own
                    state["status"] = "failed"
        if n not in self.messages:
            message = Message.objects.create(
                customer=customer,
                rule_id=plan.rule,
                channel=plan.channel,
                template="t",
                survey_version=self.world.version if plan.survey else None,
                planned_at=at(planned),
                created_at=at(plan.created),
            )
            self.messages[n] = message.pk
        if self.changed("message", n, state):
            Message.objects.filter(pk=self.messages[n]).update(**state)
        sent_at = state.get("sent_at")
        if sent_at is None:
            return
        for k, (after, late) in enumerate(plan.clicks):
            moment = sent_at + timedelta(minutes=after)
            if ("click", n, k) not in self.arrived and moment + timedelta(minutes=late) <= at(now):
                self.arrived.add(("click", n, k))
                Click.objects.create(
                    message_id=self.messages[n], index=0, url="https://x.cn", clicked_at=moment
                )
        for k, (after, late) in enumerate(plan.replies):
            moment = sent_at + timedelta(minutes=after)
            if ("reply", n, k) not in self.arrived and moment + timedelta(minutes=late) <= at(now):
                self.arrived.add(("reply", n, k))
                Event.objects.create(
                    customer=customer,
                    type="message_replied",
                    occurred_at=moment,
                    properties={"message": self.messages[n], "text": "好"},
                )

    def _task(self, n: int, job: TaskPlan, now: int) -> None:
        state: dict[str, Any] = {}
        closed = None if job.closed is None else job.created + job.closed[0]
        if job.started is not None:
            started = job.created + job.started
            if closed is not None:
                started = min(started, closed)
            if started <= now:
                state |= {"started_at": at(started), "status": "in_progress"}
        if job.closed is not None and closed is not None and closed <= now:
            state |= {"status": job.closed[1], "closed_at": at(closed), "outcome": job.closed[2]}
        if n not in self.tasks:
            self.tasks[n] = Task.objects.create(
                customer=self.world.customers[job.customer],
                team=None if job.team is None else self.world.teams[job.team],
                assignee=None if job.agent is None else self.world.agents[job.agent],
                title="回访",
                step="call",
                due_at=None if job.due is None else at(job.created + job.due),
                created_at=at(job.created),
            ).pk
        if self.changed("task", n, state):
            Task.objects.filter(pk=self.tasks[n]).update(**state)

    def _response(self, n: int, answer: ResponsePlan, now: int) -> None:
        state: dict[str, Any] = {}
        if answer.submitted is not None and answer.started + answer.submitted <= now:
            state = {
                "submitted_at": at(answer.started + answer.submitted),
                "csat": answer.csat,
                "nps": answer.nps,
                "ces": answer.ces,
            }
        if n not in self.responses:
            customer = None if answer.customer is None else self.world.customers[answer.customer]
            self.responses[n] = Response.objects.create(
                version=self.world.version,
                customer=customer,
                channel=answer.channel,
                rule_id=answer.rule,
                team_id=answer.team,
                started_at=at(answer.started),
            ).pk
        Response.objects.filter(pk=self.responses[n]).update(**state)


# --- the same figures, counted in Python from the raw rows ---------------------------------


def _expected_messages() -> Counter[tuple[Any, ...]]:
    teams: dict[Any, Any] = dict(StaffProfile.objects.values_list("user_id", "team_id"))
    customers: dict[Any, Any] = {
        c.pk: (teams.get(c.owner_id), c.province, c.city, c.business_line, c.tier)
        for c in Customer.objects.all()
    }
    first_click: dict[int, datetime] = {}
    for message_id, clicked in Click.objects.values_list("message_id", "clicked_at"):
        first_click[message_id] = min(clicked, first_click.get(message_id, clicked))
    first_reply: dict[int, datetime] = {}
    for properties, occurred in Event.objects.filter(type="message_replied").values_list(
        "properties", "occurred_at"
    ):
        named = properties.get("message")
        first_reply[named] = min(occurred, first_reply.get(named, occurred))
    counts: Counter[tuple[Any, ...]] = Counter()
    for m in Message.objects.exclude(customer=None):
        key = (m.rule_id, m.step, m.channel, m.provider_id, *customers[m.customer_id])

        def add(measure: str, moment: datetime | None, reason: str = "", key: Any = key) -> None:
            if moment is not None:
                counts[(day(moment), *key, reason, measure)] += 1

        add("created", m.created_at)
        add("queued", m.queued_at)
        add("sent", m.sent_at)
        add("surveys", m.sent_at if m.survey_version_id else None)
        add("delivered", m.delivered_at)
        add("failed", (m.sent_at or m.created_at) if m.status == "failed" else None)
        add("dropped", m.planned_at if m.status == "dropped" else None, m.reason)
        add("held", m.planned_at if m.holds > 0 else None)
        add("clicked", first_click.get(m.pk))
        add("replied", first_reply.get(m.pk))
    return counts


def _expected_tasks() -> Counter[tuple[Any, ...]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for t in Task.objects.all():
        key = (t.team_id, t.assignee_id, t.rule_id, t.step)
        counts[(day(t.created_at), *key, "opened")] += 1
        if t.status not in ("done", "cancelled") or t.closed_at is None:
            continue
        closed = (day(t.closed_at), *key)
        done = t.status == "done"
        counts[(*closed, "done")] += done
        counts[(*closed, "cancelled")] += not done
        counts[(*closed, "with_due")] += done and t.due_at is not None
        counts[(*closed, "on_time")] += done and t.due_at is not None and t.closed_at <= t.due_at
        counts[(*closed, "reached")] += t.outcome == "reached"
        counts[(*closed, "not_reached")] += t.outcome == "not_reached"
        if done and t.started_at is not None:
            counts[(*closed, "handled")] += 1
            seconds = round((t.closed_at - t.started_at).total_seconds())
            counts[(*closed, "handling_seconds")] += seconds
    return +counts


def _expected_answers() -> Counter[tuple[Any, ...]]:
    places: dict[Any, Any] = {c.pk: (c.province, c.city) for c in Customer.objects.all()}
    counts: Counter[tuple[Any, ...]] = Counter()
    for r in Response.objects.all():
        key = (r.version_id, r.channel, r.rule_id, r.team_id, *places.get(r.customer_id, ("", "")))
        counts[(day(r.started_at), *key, "opened")] += 1
        if r.submitted_at is None:
            continue
        done = (day(r.submitted_at), *key)
        counts[(*done, "answered")] += 1
        counts[(*done, "csat_n")] += r.csat is not None
        counts[(*done, "csat_ok")] += r.csat is not None and r.csat >= 4
        counts[(*done, "nps_n")] += r.nps is not None
        counts[(*done, "promoters")] += r.nps is not None and r.nps >= 9
        counts[(*done, "detractors")] += r.nps is not None and r.nps <= 6
        counts[(*done, "ces_n")] += r.ces is not None
        counts[(*done, "ces_sum")] += r.ces or 0
    return +counts


MESSAGE_KEY = (
    "day", "rule_id", "step", "channel", "provider_id", "team_id", "province", "city",
    "business_line", "tier", "reason",
)  # fmt: skip
TASK_KEY = ("day", "team_id", "assignee_id", "rule_id", "step")
ANSWER_KEY = ("day", "version_id", "channel", "rule_id", "team_id", "province", "city")
CUT_KEY = ("day", "cut", "team_id", "value")


def _rolled(model: Any, key: tuple[str, ...], measures: tuple[str, ...]) -> Counter[Any]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for row in model.objects.values(*key, *measures):
        for measure in measures:
            counts[(*(row[k] for k in key), measure)] += row[measure]
    return +counts


# The flow counts, each by its own timestamp (the cohorts and the events: test_kpis.py).
FLOW_MESSAGES, FLOW_TASKS = MESSAGE_MEASURES[:10], TASK_MEASURES[:9]


def rollups() -> tuple[Counter[Any], ...]:
    return (
        _rolled(MessageDay, MESSAGE_KEY, FLOW_MESSAGES),
        _rolled(TaskDay, TASK_KEY, FLOW_TASKS),
        _rolled(AnswerDay, ANSWER_KEY, ANSWER_MEASURES),
    )


def expected() -> tuple[Counter[Any], ...]:
    return (+_expected_messages(), _expected_tasks(), _expected_answers())


def by_one(counts: Counter[Any], position: int) -> Counter[Any]:
    """Totals by day, one dimension and measure (what a dashboard asks for)."""
    out: Counter[Any] = Counter()
    for key, value in counts.items():
        out[(key[0], key[position], key[-1])] += value
    return out


def table_rows() -> list[list[tuple[Any, ...]]]:
    """Every rollup row, in a stable order: "nothing changed" compares these."""
    return [
        sorted((tuple(row) for row in model.objects.values_list(*key, *measures)), key=repr)
        for model, key, measures in (
            (MessageDay, MESSAGE_KEY, MESSAGE_MEASURES),
            (TaskDay, TASK_KEY, TASK_MEASURES),
            (AnswerDay, ANSWER_KEY, ANSWER_MEASURES),
            *((cut, CUT_KEY, names) for _fine, cut, _source, names in CUTS),
        )
    ]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sends=st.lists(messages, max_size=8),
    jobs=st.lists(tasks, max_size=5),
    answers=st.lists(responses, max_size=5),
    stops=moments,
)
def test_incremental_refresh_equals_the_raw_counts_and_a_rebuild(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    sends: list[MessagePlan],
    jobs: list[TaskPlan],
    answers: list[ResponsePlan],
    stops: list[int],
) -> None:
    # Blocks of three ids: a history's messages fall in several, and each refresh rewrites
    # only those of the messages that changed.
    monkeypatch.setattr(rollup, "BLOCK", 3)
    _clear()
    writer = Writer(world)
    for stop in sorted(stops):
        writer.write(stop, (sends, jobs, answers))
        refresh(at(stop))
        got, want = rollups(), expected()
        assert got == want
        # The way dashboards read them: a period's totals by one dimension.
        assert by_one(got[0], 1) == by_one(want[0], 1)  # rule
        assert by_one(got[0], 5) == by_one(want[0], 5)  # team
        assert by_one(got[1], 2) == by_one(want[1], 2)  # agent
    # Everything has happened: a last refresh after the horizon, then twice more.
    end = at(HORIZON + 10 * 24 * 60)
    writer.write(HORIZON + 10 * 24 * 60, (sends, jobs, answers))
    refresh(end)
    incremental = table_rows()
    assert rollups() == expected()
    refresh(end)
    refresh(end + timedelta(minutes=1))
    assert table_rows() == incremental
    rebuild(None, None, end)
    assert table_rows() == incremental
    teams = Scope(TEAMS, frozenset({world.teams[0].pk, 7}))
    assert_the_cuts_give_the_rollups_sums([ALL, teams])


def test_a_reply_carries_the_message_it_answers(world: World) -> None:
    """A reply naming no message counts nowhere; one naming it counts on its first day."""
    _clear()
    customer = world.customers[0]
    message = Message.objects.create(
        customer=customer, template="t", channel="sms", planned_at=BASE, created_at=BASE,
        sent_at=BASE, status="sent",
    )  # fmt: skip
    later = BASE + timedelta(days=2)
    Event.objects.create(customer=customer, type="message_replied", occurred_at=later)
    Event.objects.create(
        customer=customer,
        type="message_replied",
        occurred_at=later,
        properties={"message": message.pk},
    )
    Event.objects.create(
        customer=customer,
        type="message_replied",
        occurred_at=later + timedelta(days=1),
        properties={"message": message.pk},
    )
    refresh(later + timedelta(days=2))
    replied = {row.day: row.replied for row in MessageDay.objects.filter(replied__gt=0)}
    assert replied == {day(later): 1}


def test_a_back_dated_import_lands_on_its_own_day(world: World) -> None:
    """Rows written today about last month (an import) are counted on last month's days."""
    _clear()
    now = BASE + timedelta(days=40)
    refresh(now)
    Message.objects.create(
        customer=world.customers[1], template="t", channel="sms", planned_at=BASE,
        created_at=BASE, sent_at=BASE, status="sent",
    )  # fmt: skip
    done = refresh(now + timedelta(minutes=1))
    assert day(BASE) in done.days
    row = MessageDay.objects.get(sent=1)
    assert (row.day, row.province, row.city, row.team_id) == (
        day(BASE),
        "浙江",
        "杭州",
        world.teams[1].pk,
    )


def test_the_command_rebuilds_a_range_and_says_so(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    _clear()
    Task.objects.create(customer=world.customers[0], title="回访", created_at=BASE)
    call_command("analytics", "rebuild", "--from", "2026-11-01", "--to", "2026-11-05")
    out = capsys.readouterr().out
    assert "rebuilt 5 days, 2026-11-01 to 2026-11-05" in out
    assert " s" in out
    assert TaskDay.objects.get().day == date(2026, 11, 2)  # 23:30 in Shanghai
    call_command("analytics", "rebuild")
    assert "rebuilt 1 day, 2026-11-02 to 2026-11-02" in capsys.readouterr().out


def test_the_command_refuses_a_bad_range(db: None) -> None:
    with pytest.raises(CommandError, match="not a day"):
        call_command("analytics", "rebuild", "--from", "2026-13-01")
    with pytest.raises(CommandError, match="is after"):
        call_command("analytics", "rebuild", "--from", "2026-11-05", "--to", "2026-11-01")
    assert not TaskDay.objects.exists()


def test_a_bound_beyond_the_history_is_refused(world: World) -> None:
    _clear()
    Task.objects.create(customer=world.customers[0], title="回访", created_at=BASE)
    with pytest.raises(CommandError, match="first day is after the last"):
        call_command("analytics", "rebuild", "--from", "2027-01-01")
    assert not TaskDay.objects.exists()
    call_command("analytics", "rebuild")  # nothing at all is fine too
    _clear()
    call_command("analytics", "rebuild")
    assert not TaskDay.objects.exists()


def test_a_failure_receipt_days_later_counts_on_the_day_it_was_sent(world: World) -> None:
    """A failure moves no timestamp: the refresh finds the message by when it changed."""
    _clear()
    sent = datetime(2026, 11, 2, 15, 50, tzinfo=UTC)  # 23:50 in Shanghai
    message = Message.objects.create(
        customer=world.customers[0], template="t", channel="sms", planned_at=sent,
        created_at=sent, sent_at=sent, status="sent",
    )  # fmt: skip
    refresh(sent + timedelta(minutes=40))  # 00:30: yesterday is done with, it seems
    refresh(sent + timedelta(days=2, minutes=50))
    failed = sent + timedelta(days=2, hours=1)  # the carrier's receipt, two days on
    with time_machine.travel(failed, tick=False):
        Message.objects.filter(pk=message.pk).update(status="failed")
    done = refresh(failed + timedelta(minutes=1))
    assert MessageDay.objects.get(failed=1).day == date(2026, 11, 2)
    assert done.days == [date(2026, 11, 2), date(2026, 11, 5)]  # its day, and today's


def test_a_task_handed_on_days_later_counts_for_its_new_agent(world: World) -> None:
    """A bulk reassignment (``bulk_update``, as the leave hand-over does) moves no time of the
    task's own: the update says when it happened, so the day it was opened is redone."""
    _clear()
    opened = BASE
    with time_machine.travel(opened, tick=False):
        task = Task.objects.create(
            customer=world.customers[0], team=world.teams[0], assignee=world.agents[0],
            title="回访", step="call", created_at=opened,
        )  # fmt: skip
    handed = opened + timedelta(days=3)
    refresh(opened + timedelta(minutes=5))
    refresh(handed - timedelta(minutes=1))  # the worker ran all along: the opening day is done
    with time_machine.travel(handed, tick=False):
        task.assignee = world.agents[1]
        Task.objects.bulk_update([task], ["assignee"])
    refresh(handed + timedelta(minutes=1))
    rows = TaskDay.objects.filter(opened__gt=0).values_list("day", "assignee_id", "opened")
    assert list(rows) == [(day(opened), world.agents[1].pk, 1)]


def test_after_downtime_the_refresh_catches_up(world: World) -> None:
    """Three days without a refresh: every day in between is redone, once."""
    _clear()
    refresh(BASE)
    for n in range(1, 4):
        moment = BASE + timedelta(days=n)
        Message.objects.create(
            customer=world.customers[2], template="t", channel="email", planned_at=moment,
            created_at=moment, queued_at=moment, sent_at=moment, delivered_at=moment,
            status="delivered",
        )  # fmt: skip
    done = refresh(BASE + timedelta(days=3, hours=1))
    assert {day(BASE + timedelta(days=n)) for n in range(4)} <= set(done.days)
    delivered = dict(MessageDay.objects.values_list("day", "delivered"))
    assert delivered == {day(BASE + timedelta(days=n)): 1 for n in range(1, 4)}


def test_a_late_click_moves_the_first_click_to_its_day(world: World) -> None:
    """A click that arrives after a later one was counted becomes the first: the message
    counts as clicked on its day, and no longer on the other."""
    _clear()
    sent = BASE
    message = Message.objects.create(
        customer=world.customers[0], template="t", channel="sms", planned_at=sent,
        created_at=sent, sent_at=sent, status="sent",
    )  # fmt: skip
    second = sent + timedelta(days=3)
    Click.objects.create(message=message, index=0, url="https://x.cn", clicked_at=second)
    refresh(second + timedelta(minutes=1))
    later = second + timedelta(days=4)
    refresh(later)
    first = sent + timedelta(days=1)  # arrives four days late
    Click.objects.create(message=message, index=0, url="https://x.cn", clicked_at=first)
    refresh(later + timedelta(minutes=1))
    clicked = dict(MessageDay.objects.filter(clicked__gt=0).values_list("day", "clicked"))
    assert clicked == {day(first): 1}


def _sent(world: World, moment: datetime) -> Message:
    return Message.objects.create(
        customer=world.customers[0], template="t", channel="sms", planned_at=moment,
        created_at=moment, queued_at=moment, sent_at=moment, status="sent",
    )  # fmt: skip


def test_the_refresh_rewrites_only_the_blocks_of_the_messages_that_changed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day's message rows are kept by id block: a minute's new messages rewrite their own
    block of the day, not the rows of the messages sent earlier that day (at 1,000 new
    messages a second a day would grow without bound)."""
    monkeypatch.setattr(rollup, "BLOCK", 2)
    _clear()
    refresh(BASE)
    earlier = [_sent(world, BASE + timedelta(minutes=n)) for n in range(1, 5)]
    refresh(BASE + timedelta(minutes=5))
    blocks = {m.pk // 2 for m in earlier}
    assert set(MessageDay.objects.filter(sent__gt=0).values_list("block", flat=True)) == blocks
    # A mark on the first block's rows: a rewrite of that block would wipe it.
    first = min(blocks)
    marked = MessageDay.objects.filter(block=first).update(holds=7)
    later = _sent(world, BASE + timedelta(minutes=6))
    assert later.pk // 2 > first
    refresh(BASE + timedelta(minutes=7))
    assert MessageDay.objects.filter(block=first, holds=7).count() == marked
    sent = dict(MessageDay.objects.values_list("block").annotate(n=Sum("sent")))
    assert sent[later.pk // 2] == sum(1 for m in [*earlier, later] if m.pk // 2 == later.pk // 2)
    # A message of the first block changing (its delivery) rewrites that block.
    with time_machine.travel(BASE + timedelta(minutes=8), tick=False):
        Message.objects.filter(pk=earlier[0].pk).update(
            status="delivered", delivered_at=BASE + timedelta(minutes=8)
        )
    refresh(BASE + timedelta(minutes=9))
    assert not MessageDay.objects.filter(holds=7).exists()
    assert MessageDay.objects.filter(block=first).aggregate(n=Sum("delivered"))["n"] == 1


def test_rows_written_before_the_blocks_are_rewritten_whole(world: World) -> None:
    """Rollup rows without a block (written before the rollup kept blocks) count the whole
    day: the first refresh that touches the day rewrites it whole, once."""
    _clear()
    refresh(BASE)
    today = BASE.astimezone(SHANGHAI).date()
    MessageDay.objects.create(day=today, step="s", channel="sms", sent=5, block=None)
    _sent(world, BASE + timedelta(minutes=1))
    refresh(BASE + timedelta(minutes=2))
    assert not MessageDay.objects.filter(block__isnull=True).exists()
    assert MessageDay.objects.filter(day=today).aggregate(n=Sum("sent"))["n"] == 1
