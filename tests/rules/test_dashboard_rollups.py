"""The rule dashboard reads the daily rollups: after ``rebuild`` its figures equal a count made
independently over the raw rows (enrollments, messages, reply events, gate decisions, tasks),
for any history and any period of whole days; and a new message shows after ``refresh``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.analytics.rollup import rebuild, refresh
from huifang.customers.models import Customer, Event
from huifang.engine.models import Enrollment
from huifang.messaging.models import Message
from huifang.rules.models import Rule, RuleVersion
from huifang.studio.dashboard import OPEN_TASK, Period, figures
from huifang.tasks.models import Task

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 15:30 UTC is 23:30 in Shanghai: histories cross local midnights that UTC dates would miss.
BASE = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)
HORIZON = 6 * 24 * 60
NOW = BASE + timedelta(days=8)


@pytest.fixture(autouse=True)
def shanghai_time(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


def at(minute: int) -> datetime:
    return BASE + timedelta(minutes=minute)


@dataclass
class EnrollmentPlan:
    rule: int
    customer: int
    started: int
    ended: tuple[int, str, str] | None  # (minutes after started, status, reason)


@dataclass
class MessagePlan:
    rule: int
    customer: int
    created: int
    sent: int | None  # minutes after created
    delivered: int | None  # minutes after sent
    decisions: list[tuple[str, str]]
    replies: list[tuple[int, int]]  # (minutes after created, 0: its customer, 1: another)


@dataclass
class TaskPlan:
    rule: int
    customer: int
    created: int
    due: int | None
    closed: tuple[int, str] | None


minutes = st.integers(0, HORIZON)
enrollments = st.builds(
    EnrollmentPlan,
    rule=st.integers(0, 1),
    customer=st.integers(0, 2),
    started=minutes,
    ended=st.none()
    | st.tuples(
        st.integers(0, 3 * 24 * 60),
        st.sampled_from(["completed", "exited", "ended"]),
        st.sampled_from(["completed", "replied", "event:purchase", ""]),
    ),
)
messages = st.builds(
    MessagePlan,
    rule=st.integers(0, 1),
    customer=st.integers(0, 2),
    created=minutes,
    sent=st.none() | st.integers(0, 20 * 60),
    delivered=st.none() | st.integers(0, 20 * 60),
    # A drop always leaves its reason on the message (what the dashboard finds it by).
    decisions=st.lists(
        st.tuples(st.just("drop"), st.sampled_from(["cap", "no_consent"]))
        | st.tuples(
            st.sampled_from(["defer", "release"]),
            st.sampled_from(["quiet_hours", "cap", "no_consent", ""]),
        ),
        max_size=3,
    ),
    replies=st.lists(st.tuples(st.integers(0, 3 * 24 * 60), st.integers(0, 1)), max_size=3),
)
tasks = st.builds(
    TaskPlan,
    rule=st.integers(0, 1),
    customer=st.integers(0, 2),
    created=minutes,
    due=st.none() | st.integers(-24 * 60, 3 * 24 * 60),
    closed=st.none()
    | st.tuples(st.integers(0, 3 * 24 * 60), st.sampled_from(["done", "cancelled"])),
)
periods = st.tuples(st.integers(-1, 9), st.integers(0, 9))


@dataclass
class World:
    rules: list[Rule]
    versions: list[RuleVersion]
    customers: list[Customer]


@pytest.fixture
def world(db: None) -> World:
    rules = [Rule.objects.create(key=f"r{n}", name=f"规则{n}") for n in range(2)]
    versions = [RuleVersion.objects.create(rule=rule, number=1, content={}) for rule in rules]
    customers = [Customer.objects.create(external_id=f"C-{n}", name=f"客户{n}") for n in range(3)]
    return World(rules, versions, customers)


def write(
    world: World, plans: tuple[list[EnrollmentPlan], list[MessagePlan], list[TaskPlan]]
) -> None:
    for model in (Enrollment, Message, Event, Task):
        model.objects.all().delete()
    joined, sends, jobs = plans
    active: set[tuple[int, int]] = set()
    for n, plan in enumerate(joined):
        ended = plan.ended
        if ended is None and (plan.rule, plan.customer) in active:
            continue  # one active enrollment per rule and customer
        if ended is None:
            active.add((plan.rule, plan.customer))
        Enrollment.objects.create(
            rule=world.rules[plan.rule],
            version=world.versions[plan.rule],
            customer=world.customers[plan.customer],
            anchor=f"a{n}",
            anchor_at=at(plan.started),
            status=ended[1] if ended else "active",
            end_reason=ended[2] if ended else "",
            step="thanks",
            started_at=at(plan.started),
            ended_at=at(plan.started + ended[0]) if ended else None,
        )
    for send in sends:
        sent = None if send.sent is None else at(send.created + send.sent)
        delivered = (
            None
            if sent is None or send.delivered is None
            else sent + timedelta(minutes=send.delivered)
        )
        drops = [why for action, why in send.decisions if action == "drop"]
        message = Message.objects.create(
            customer=world.customers[send.customer],
            rule=world.rules[send.rule],
            step="thanks",
            channel="sms",
            template="t",
            status="dropped" if drops else ("delivered" if delivered else "sent"),
            reason=drops[-1] if drops else "",
            holds=sum(action == "defer" for action, _why in send.decisions),
            decisions=[{"action": a, "reason": why} for a, why in send.decisions],
            planned_at=at(send.created),
            created_at=at(send.created),
            sent_at=sent,
            delivered_at=delivered,
        )
        for after, other in send.replies:
            Event.objects.create(
                customer=world.customers[(send.customer + other) % 3],
                type="message_replied",
                occurred_at=at(send.created + after),
                properties={"message": message.pk},
            )
    for job in jobs:
        closed = None if job.closed is None else at(job.created + job.closed[0])
        Task.objects.create(
            customer=world.customers[job.customer],
            rule=world.rules[job.rule],
            title="回访",
            step="call",
            status=job.closed[1] if job.closed else "open",
            due_at=None if job.due is None else at(job.created + job.due),
            closed_at=closed,
            created_at=at(job.created),
        )


def counted(world: World, period: Period) -> dict[int, dict[str, Any]]:
    """The dashboard's figures counted in Python from the raw rows, by their exact instants."""

    def inside(moment: datetime | None) -> bool:
        return moment is not None and period.start <= moment < period.end

    out: dict[int, dict[str, Any]] = {}
    for rule in world.rules:
        joined = Enrollment.objects.filter(rule=rule)
        sends = list(Message.objects.filter(rule=rule))
        first_reply: dict[int, datetime] = {}
        for event in Event.objects.filter(type="message_replied").order_by("occurred_at", "pk"):
            named = event.properties.get("message")
            mine = [m for m in sends if m.pk == named and m.customer_id == event.customer_id]
            if mine and named not in first_reply:
                first_reply[named] = event.occurred_at
        held: Counter[tuple[str, str]] = Counter()
        for m in sends:
            if inside(m.created_at):
                for decision in m.decisions:
                    if decision["action"] in ("defer", "drop"):
                        held[(decision["action"], decision["reason"])] += 1
        endings: Counter[tuple[str, str]] = Counter(
            (e.status, e.end_reason) for e in joined if inside(e.ended_at)
        )
        jobs = list(Task.objects.filter(rule=rule))
        out[rule.pk] = {
            "enrolled": sum(inside(e.started_at) for e in joined),
            "active": sum(e.status == "active" for e in joined),
            "finished": sum(endings.values()),
            "endings": +endings,
            "sent": sum(inside(m.sent_at) for m in sends),
            "delivered": sum(inside(m.delivered_at) for m in sends),
            "replied": sum(inside(moment) for moment in first_reply.values()),
            "held": +held,
            "tasks_done": sum(t.status == "done" and inside(t.closed_at) for t in jobs),
            "tasks_open": sum(t.status in OPEN_TASK for t in jobs),
            "tasks_overdue": sum(
                t.status in OPEN_TASK and t.due_at is not None and t.due_at < NOW for t in jobs
            ),
        }
    return out


def shown(world: World, period: Period) -> dict[int, dict[str, Any]]:
    found = figures([rule.pk for rule in world.rules], period, NOW)
    return {
        pk: {
            "enrolled": f.enrolled,
            "active": f.active,
            "finished": f.finished,
            "endings": Counter({b.key: b.count for b in f.endings}),
            "sent": f.sent,
            "delivered": f.delivered,
            "replied": f.replied,
            "held": Counter({b.key: b.count for b in f.held}),
            "tasks_done": f.tasks_done,
            "tasks_open": f.tasks_open,
            "tasks_overdue": f.tasks_overdue,
        }
        for pk, f in found.items()
    }


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    joined=st.lists(enrollments, max_size=5),
    sends=st.lists(messages, max_size=6),
    jobs=st.lists(tasks, max_size=4),
    spans=st.lists(periods, min_size=1, max_size=3),
)
def test_after_a_rebuild_the_figures_equal_a_count_over_the_raw_rows(
    world: World,
    joined: list[EnrollmentPlan],
    sends: list[MessagePlan],
    jobs: list[TaskPlan],
    spans: list[tuple[int, int]],
) -> None:
    write(world, (joined, sends, jobs))
    rebuild(None, None, NOW)
    first_day = BASE.astimezone(SHANGHAI).date()
    for offset, length in spans:
        first = first_day + timedelta(days=offset)
        period = Period.of_days("custom", first, first + timedelta(days=length))
        got, want = shown(world, period), counted(world, period)
        for pk, figures_ in want.items():
            for name, value in figures_.items():
                assert (pk, name, got[pk][name]) == (pk, name, value)


def test_a_new_message_shows_after_the_refresh(world: World) -> None:
    rebuild(None, None, BASE)
    today: date = NOW.astimezone(SHANGHAI).date()
    period = Period.of_days("today", today, today)
    rule = world.rules[0]
    assert figures([rule.pk], period, NOW)[rule.pk].sent == 0
    Message.objects.create(
        customer=world.customers[0],
        rule=rule,
        step="thanks",
        channel="sms",
        template="t",
        status="sent",
        planned_at=NOW - timedelta(minutes=1),
        created_at=NOW - timedelta(minutes=1),
        sent_at=NOW - timedelta(minutes=1),
    )
    assert figures([rule.pk], period, NOW)[rule.pk].sent == 0  # not rolled up yet
    refresh(NOW)  # what the worker does every minute
    assert figures([rule.pk], period, NOW)[rule.pk].sent == 1
