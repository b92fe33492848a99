"""Every KPI of docs/metrics.md, read through ``kpis.totals`` / ``breakdown``, equals the same
figure counted independently over the raw rows, whatever order the history arrives in.

Random histories: messages (sent or not, links, delivery receipts and failures arriving late,
clicks and replies arriving out of order, questionnaire links opened and answered), tasks
(of two rules or none; opened, done or cancelled, reached at the first attempt or not, never
reached, refused or a wrong number, scored, with child tasks), complaints and purchases arriving
late. The refresh runs at random moments (long gaps are
downtime); after each, the totals of the whole history equal the raw counts, and at the end
the rollups equal a rebuild.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.analytics import kpis
from huifang.analytics.kpis import CUT_ROLLUPS
from huifang.analytics.models import AnswerDay, EventDay, MessageDay, TaskDay, Watermark
from huifang.analytics.periods import Period
from huifang.analytics.rollup import (
    CUTS,
    EVENT_MEASURES,
    MESSAGE_MEASURES,
    TASK_MEASURES,
    cut_columns,
    rebuild,
    refresh,
)
from huifang.analytics.scope import ALL, OWN, TEAMS, Scope, scope_for
from huifang.customers.models import Customer, Event
from huifang.messaging.models import Click, Message
from huifang.rules.models import Rule
from huifang.surveys.models import Response, Survey, SurveyVersion
from huifang.tasks.models import Task
from tests.analytics.cuts import assert_the_cuts_give_the_rollups_sums
from tests.conftest import make_staff

SHANGHAI = ZoneInfo("Asia/Shanghai")
BASE = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
HORIZON = 6 * 24 * 60  # minutes
WHOLE = Period(date(2026, 10, 25), date(2027, 4, 30), "month")
minute = st.integers(0, HORIZON)
late = st.integers(0, 3 * 24 * 60)  # how long after it happened a row arrives


def at(offset: int) -> datetime:
    return BASE + timedelta(minutes=offset)


@dataclass
class Send:
    customer: int
    channel: str
    links: bool
    survey: bool
    created: int
    sent: int | None  # minutes after created; None: never sent (dropped)
    receipt: tuple[int, bool] | None  # (after sent, delivered?) — failures come within a day
    clicks: list[tuple[int, int]]  # (after sent, arrives after)
    replies: list[tuple[int, int, bool]]  # (after sent, arrives after, a questionnaire answer?)
    opened: tuple[int, int | None] | None  # questionnaire (after sent, submitted after)
    holds: list[str]  # the gate's defer decisions, by reason


@dataclass
class Job:
    customer: int
    team: int
    agent: int
    created: int
    close: tuple[int, str, str, int, int | None] | None  # after, status, outcome, attempts, score
    child: bool  # a remediation opened when it closes
    rule: int | None = None


@dataclass
class Happening:
    customer: int
    type: str
    occurred: int
    arrives: int  # minutes after it occurred


sends = st.builds(
    Send,
    customer=st.integers(0, 2),
    channel=st.sampled_from(["sms", "email", "wecom"]),
    links=st.booleans(),
    survey=st.booleans(),
    created=minute,
    sent=st.none() | st.integers(0, 600),
    receipt=st.none() | st.tuples(st.integers(0, 2 * 24 * 60), st.booleans()),
    clicks=st.lists(st.tuples(st.integers(0, 3 * 24 * 60), late), max_size=2),
    replies=st.lists(st.tuples(st.integers(0, 3 * 24 * 60), late, st.booleans()), max_size=2),
    opened=st.none() | st.tuples(st.integers(0, 24 * 60), st.none() | st.integers(0, 24 * 60)),
    holds=st.lists(st.sampled_from(["quiet_hours", "cap", "day_off"]), max_size=3),
)
jobs = st.builds(
    Job,
    customer=st.integers(0, 2),
    team=st.integers(0, 1),
    agent=st.integers(0, 1),
    created=minute,
    close=st.none()
    | st.tuples(
        st.integers(0, 3 * 24 * 60),
        st.sampled_from(["done", "cancelled"]),
        st.sampled_from(["", "reached", "call_back", "refused", "not_reached", "wrong_number"]),
        st.integers(1, 2),
        st.none() | st.integers(1, 5),
    ),
    child=st.booleans(),
    rule=st.none() | st.integers(0, 1),
)
happenings = st.builds(
    Happening,
    customer=st.integers(0, 2),
    type=st.sampled_from(["complaint", "purchase", "page_view"]),
    occurred=st.integers(0, HORIZON + 10 * 24 * 60),
    arrives=late,
)


@dataclass
class World:
    customers: list[Customer]
    teams: list[Team]
    agents: list[Any]
    version: SurveyVersion
    rules: list[Rule]


@pytest.fixture
def world(db: None) -> World:
    teams = [Team.objects.create(key=f"t{n}", name=f"Team {n}") for n in range(2)]
    agents = [make_staff(f"agent{n}", Role.AGENT, team=teams[n]) for n in range(2)]
    kinds = [
        ("门店A", "repeat", {"product_category": "冰箱"}, "家电"),
        ("天猫", "inquiry", {}, "家电"),
        ("", "inquiry", {}, ""),
    ]
    customers = [
        Customer.objects.create(
            external_id=f"C-{n}",
            name=f"客户{n}",
            owner=agents[n] if n < 2 else None,
            source=source,
            lifecycle_stage=stage,
            attributes=attributes,
            business_line=line,
        )
        for n, (source, stage, attributes, line) in enumerate(kinds)
    ]
    survey = Survey.objects.create(key="after-sale", name="售后回访")
    version = SurveyVersion.objects.create(survey=survey, number=1, content={})
    rules = [Rule.objects.create(key=f"r{n}", name=f"策略{n}") for n in range(2)]
    return World(customers, teams, agents, version, rules)


def _clear() -> None:
    for model in (
        Click,
        Event,
        Response,
        Message,
        Task,
        MessageDay,
        TaskDay,
        AnswerDay,
        EventDay,
        *CUT_ROLLUPS.values(),
    ):
        model.objects.all().delete()
    Watermark.objects.all().delete()


class Writer:
    """Writes what has arrived by a moment; late rows carry their earlier timestamps."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.ids: dict[tuple[str, int], int] = {}
        self.done: set[tuple[Any, ...]] = set()

    def once(self, *key: Any) -> bool:
        if key in self.done:
            return False
        self.done.add(key)
        return True

    def write(self, now: int, plan: tuple[list[Send], list[Job], list[Happening]]) -> None:
        for n, send in enumerate(plan[0]):
            if send.created <= now:
                self._send(n, send, now)
        for n, job in enumerate(plan[1]):
            if job.created <= now:
                self._job(n, job, now)
        for n, happening in enumerate(plan[2]):
            if happening.occurred + happening.arrives <= now and self.once("event", n):
                Event.objects.create(
                    customer=self.world.customers[happening.customer],
                    type=happening.type,
                    occurred_at=at(happening.occurred),
                    amount=10 if happening.type == "purchase" else None,
                )

    def _send(self, n: int, send: Send, now: int) -> None:
        customer = self.world.customers[send.customer]
        if ("m", n) not in self.ids:
            self.ids[("m", n)] = Message.objects.create(
                customer=customer,
                channel=send.channel,
                template="t",
                links=["https://x.cn/a"] if send.links else [],
                survey_version=self.world.version if send.survey else None,
                planned_at=at(send.created),
                created_at=at(send.created),
                status="queued",
                holds=len(send.holds),
                decisions=[{"action": "defer", "reason": why, "by": "engine"} for why in send.holds]
                + [{"action": "drop", "reason": "cap"}],
            ).pk
        pk = self.ids[("m", n)]
        if send.sent is None:
            if self.once("drop", n):
                Message.objects.filter(pk=pk).update(status="dropped", reason="cap")
            return
        sent = send.created + send.sent
        if sent > now:
            return
        if self.once("sent", n):
            Message.objects.filter(pk=pk).update(status="sent", sent_at=at(sent))
        if send.receipt is not None and sent + send.receipt[0] <= now and self.once("rc", n):
            if send.receipt[1]:
                moment = at(sent + send.receipt[0])
                Message.objects.filter(pk=pk).update(status="delivered", delivered_at=moment)
            elif send.receipt[0] <= 4 * 60:  # failure receipts come within hours
                Message.objects.filter(pk=pk).update(status="failed")
        for k, (after, delay) in enumerate(send.clicks):
            if sent + after + delay <= now and self.once("click", n, k):
                Click.objects.create(message_id=pk, index=0, url="https://x.cn/a",
                                     clicked_at=at(sent + after))  # fmt: skip
        for k, (after, delay, survey) in enumerate(send.replies):
            if sent + after + delay <= now and self.once("reply", n, k):
                Event.objects.create(
                    customer=customer,
                    type="survey_answered" if survey else "message_replied",
                    occurred_at=at(sent + after),
                    properties={"message": pk},
                )
        if send.survey and send.opened is not None:
            started = sent + send.opened[0]
            if started <= now and self.once("open", n):
                self.ids[("r", n)] = Response.objects.create(
                    version=self.world.version, customer=customer, channel="sms",
                    message_id=pk, started_at=at(started),
                ).pk  # fmt: skip
            answered = send.opened[1]
            if answered is not None and started + answered <= now and self.once("submit", n):
                Response.objects.filter(pk=self.ids[("r", n)]).update(
                    submitted_at=at(started + answered), csat=4
                )

    def _job(self, n: int, job: Job, now: int) -> None:
        if ("t", n) not in self.ids:
            self.ids[("t", n)] = Task.objects.create(
                customer=self.world.customers[job.customer],
                team=self.world.teams[job.team],
                assignee=self.world.agents[job.agent],
                rule=None if job.rule is None else self.world.rules[job.rule],
                title="回访",
                step="call",
                created_at=at(job.created),
            ).pk
            # Saved when it happened (``updated_at`` would be the wall clock's now).
            Task.objects.filter(pk=self.ids[("t", n)]).update(updated_at=at(job.created))
        if job.close is None:
            return
        closed = job.created + job.close[0]
        if closed > now or not self.once("close", n):
            return
        _after, status, outcome, attempts, score = job.close
        Task.objects.filter(pk=self.ids[("t", n)]).update(
            status=status, outcome=outcome, attempts=attempts, score=score,
            closed_at=at(closed), updated_at=at(closed),
        )  # fmt: skip
        if job.child:
            child = Task.objects.create(
                customer=self.world.customers[job.customer],
                team=self.world.teams[job.team],
                parent_id=self.ids[("t", n)],
                kind="remediation",
                title="整改",
                step="fix",
                created_at=at(closed),
            )
            Task.objects.filter(pk=child.pk).update(updated_at=at(closed))


# --- the KPIs counted over the raw rows, as docs/metrics.md defines them -------------------


def _ratio(above: int, below: int, scale: float = 100.0) -> float | None:
    return None if below <= 0 else scale * above / below


def expected_kpis(first: datetime, last: datetime, tasks: Any = None) -> dict[str, float | None]:
    """The KPIs of the moments [first, last), straight from the source rows (the tasks
    ``tasks``: all by default)."""

    def within(moment: datetime | None) -> bool:
        return moment is not None and first <= moment < last

    messages = list(Message.objects.exclude(customer=None))
    clicked = set(Click.objects.values_list("message_id", flat=True))
    replied = {
        (e.customer_id, e.properties.get("message"))
        for e in Event.objects.filter(type__in=("message_replied", "survey_answered"))
    }
    responses = {r.message_id: r for r in Response.objects.exclude(message_id=None)}
    sent = [m for m in messages if within(m.sent_at)]
    linked = [m for m in sent if m.links]
    replyable = [m for m in sent if m.channel in ("sms", "email")]
    surveyed = [m for m in sent if m.survey_version_id]
    created = [m for m in messages if within(m.created_at)]
    msg_reached = sum(m.sent_at is not None and m.status in ("sent", "delivered") for m in created)

    tasks = list(Task.objects.all() if tasks is None else tasks)
    opened = [t for t in tasks if within(t.created_at)]
    task_reached = sum(t.outcome in ("reached", "call_back") for t in opened)
    closed = [t for t in tasks if t.status in ("done", "cancelled") and within(t.closed_at)]
    done = [t for t in closed if t.status == "done"]
    reached = [t for t in closed if t.outcome == "reached"]
    events = list(Event.objects.filter(type__in=("complaint", "purchase")))
    complaints = [e for e in events if e.type == "complaint" and within(e.occurred_at)]
    parents = set(Task.objects.exclude(parent=None).values_list("parent_id", flat=True))

    def bought(t: Task, days: int) -> bool:
        assert t.closed_at is not None
        end = t.closed_at + timedelta(days=days)
        return any(
            e.type == "purchase" and e.customer_id == t.customer_id
            and t.closed_at < e.occurred_at <= end
            for e in events
        )  # fmt: skip

    def complained_after(t: Task) -> bool:
        assert t.closed_at is not None
        end = t.closed_at + timedelta(days=7)
        return any(
            e.type == "complaint" and e.customer_id == t.customer_id
            and t.closed_at < e.occurred_at <= end
            for e in events
        )  # fmt: skip

    def repeat(c: Event) -> bool:
        return any(
            e.type == "complaint" and e.customer_id == c.customer_id
            and c.occurred_at - timedelta(days=30) <= e.occurred_at < c.occurred_at
            for e in events
        )  # fmt: skip

    def baseline(tasks: list[Task], days: int) -> tuple[float | None, float | None]:
        """The baseline and the uplift, rule by rule: each rule's share of its follow-ups
        closed unreached (no outcome, or not reached: not refusals, wrong numbers or
        call-backs) that bought, weighted by the rule's reached follow-ups."""
        weight = expected = actual = 0.0
        for rule in {t.rule_id for t in tasks}:
            mine = [t for t in tasks if t.rule_id == rule]
            ours = [t for t in mine if t.outcome == "reached"]
            pool = [t for t in mine if t.outcome in ("", "not_reached")]
            if ours and pool:
                weight += len(ours)
                expected += len(ours) * sum(bought(t, days) for t in pool) / len(pool)
                actual += sum(bought(t, days) for t in ours)
        if not weight:
            return None, None
        return 100 * expected / weight, 100 * (actual - expected) / weight

    figures: dict[str, float | None] = {}
    for days in (7, 30, 90):
        figures[f"baseline_{days}"], figures[f"uplift_{days}"] = baseline(closed, days)

    first_contact = [
        t for t in reached
        if t.status == "done" and t.attempts == 1 and t.pk not in parents
        and not complained_after(t)
    ]  # fmt: skip
    scored = [t for t in done if t.score is not None]
    answers = list(Response.objects.all())
    csat = [r for r in answers if within(r.submitted_at) and r.csat is not None]
    to_do = [t for t in opened if t.status != "cancelled"]
    return {
        "holds": float(sum(len(m.decisions) - 1 for m in created)),
        "sent": float(len(sent)),
        "reach_rate": _ratio(msg_reached + task_reached, len(created) + len(opened)),
        "delivery_rate": _ratio(sum(m.delivered_at is not None for m in sent), len(sent)),
        "failure_rate": None,  # a flow figure, not re-derived here
        "click_rate": _ratio(sum(m.pk in clicked for m in linked), len(linked)),
        "reply_rate": _ratio(
            sum((m.customer_id, m.pk) in replied for m in replyable), len(replyable)
        ),
        "survey_open_rate": _ratio(sum(m.pk in responses for m in surveyed), len(surveyed)),
        "survey_response_rate": _ratio(
            sum(m.pk in responses and responses[m.pk].submitted_at is not None for m in surveyed),
            len(surveyed),
        ),
        "drop_rate": _ratio(sum(m.status == "dropped" for m in created), len(created)),
        "tasks_opened": float(len(opened)),
        "completion_rate": _ratio(sum(t.status == "done" for t in to_do), len(to_do)),
        "contact_rate": _ratio(sum(t.outcome == "reached" for t in closed), len(done)),
        "fcr": _ratio(len(first_contact), len(reached)),
        "conversion_7": _ratio(sum(bought(t, 7) for t in reached), len(reached)),
        "conversion_30": _ratio(sum(bought(t, 30) for t in reached), len(reached)),
        "conversion_90": _ratio(sum(bought(t, 90) for t in reached), len(reached)),
        "agent_csat": _ratio(
            sum(t.score is not None and t.score >= 4 for t in scored), len(scored)
        ),
        "csat": _ratio(sum(r.csat is not None and r.csat >= 4 for r in csat), len(csat)),
        "complaints": float(len(complaints)),
        "complaint_rate": _ratio(len(complaints), msg_reached + task_reached),
        "repeat_complaint_rate": _ratio(sum(repeat(c) for c in complaints), len(complaints)),
        "purchases": float(sum(e.type == "purchase" and within(e.occurred_at) for e in events)),
        **figures,
    }


def whole() -> tuple[datetime, datetime]:
    start = datetime.combine(WHOLE.first, datetime.min.time(), tzinfo=SHANGHAI)
    end = datetime.combine(WHOLE.last + timedelta(days=1), datetime.min.time(), tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


def assert_kpis_match() -> None:
    want = expected_kpis(*whole())
    got = kpis.totals(WHOLE, ALL, kpis=[k for k in want if k != "failure_rate"]).values
    for key, value in got.items():
        assert value == pytest.approx(want[key]), key
    # Holds by reason: each defer decision of the messages written in the period.
    start, end = whole()
    reasons: Counter[str] = Counter(
        d["reason"]
        for m in Message.objects.filter(created_at__gte=start, created_at__lt=end)
        for d in m.decisions
        if d["action"] == "defer"
    )
    rows = kpis.breakdown(WHOLE, ALL, "reason", kpis=["holds"])
    by_reason = {r.key: r.values["holds"] for r in rows if r.key and r.values["holds"]}
    assert by_reason == {k: float(n) for k, n in reasons.items()}
    # The baseline of a team's figures weighs the rules of that team's follow-ups.
    compared = ["baseline_30", "uplift_30", "conversion_30"]
    for row in kpis.breakdown(WHOLE, ALL, "team", kpis=compared):
        team = expected_kpis(start, end, Task.objects.filter(team_id=row.key))
        for key in compared:
            assert row.values[key] == pytest.approx(team[key]), (row.key, key)


def table_rows() -> list[list[tuple[Any, ...]]]:
    measures: dict[Any, Sequence[str]] = {
        MessageDay: MESSAGE_MEASURES,
        TaskDay: TASK_MEASURES,
        EventDay: EVENT_MEASURES,
        **{cut: names for _fine, cut, _source, names in CUTS},
    }
    found = []
    for model, names in measures.items():
        fields = [f.attname for f in model._meta.fields if f.attname != "id"]
        rows = model.objects.values_list(*fields)
        # Rows of one day with every measure 0 say nothing: a rebuild may leave them out.
        index = [fields.index(n) for n in names]
        found.append(sorted((r for r in rows if any(r[i] for i in index)), key=repr))
    return found


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    messages=st.lists(sends, max_size=6),
    tasks=st.lists(jobs, max_size=4),
    events=st.lists(happenings, max_size=5),
    stops=st.lists(st.integers(0, HORIZON + 6 * 24 * 60), min_size=1, max_size=6, unique=True),
)
def test_every_kpi_equals_the_raw_count_however_the_history_arrives(
    world: World, messages: list[Send], tasks: list[Job], events: list[Happening], stops: list[int]
) -> None:
    _clear()
    writer = Writer(world)
    plan = (messages, tasks, events)
    for stop in sorted(stops):
        writer.write(stop, plan)
        refresh(at(stop))
        assert_kpis_match()
    end = HORIZON + 20 * 24 * 60
    writer.write(end, plan)
    refresh(at(end))
    assert_kpis_match()
    incremental = table_rows()
    rebuild(None, None, at(end))
    assert table_rows() == incremental
    assert_kpis_match()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    messages=st.lists(sends, max_size=6),
    tasks=st.lists(jobs, max_size=4),
    events=st.lists(happenings, max_size=5),
    stops=st.lists(st.integers(0, HORIZON + 6 * 24 * 60), min_size=1, max_size=3, unique=True),
)
def test_the_cut_tables_give_the_sums_of_the_rollups(
    world: World, messages: list[Send], tasks: list[Job], events: list[Happening], stops: list[int]
) -> None:
    """Whatever the history, every sum a page reads from the cut tables (totals, trend and
    breakdowns, for everyone and for a team) is the sum of the rollups' own rows."""
    _clear()
    writer = Writer(world)
    for stop in sorted(stops):
        writer.write(stop, (messages, tasks, events))
        refresh(at(stop))
    assert_the_cuts_give_the_rollups_sums([ALL, Scope(TEAMS, frozenset({world.teams[1].pk}))])


def test_the_cut_tables_answer_only_what_they_can(db: None) -> None:
    """In everyone's or teams' scope, at most one dimension besides the team (filtered, broken
    down by, or both) of the rollup; anything else reads the rollup itself."""
    teams = Scope(TEAMS, frozenset({1}))
    assert kpis.cut_of(kpis.MESSAGES, ALL, {}, None) == ""
    assert kpis.cut_of(kpis.MESSAGES, teams, {}, "bucket") == ""
    assert kpis.cut_of(kpis.TASKS, teams, {}, "team") == ""
    assert kpis.cut_of(kpis.TASKS, ALL, {}, "agent") == "agent"
    assert kpis.cut_of(kpis.MESSAGES, ALL, {}, "agent") is None
    assert kpis.cut_of(kpis.MESSAGES, ALL, {"channel": "sms"}, None) == "channel"
    assert kpis.cut_of(kpis.MESSAGES, teams, {"channel": "sms"}, "team") == "channel"
    assert kpis.cut_of(kpis.MESSAGES, ALL, {"team": 1}, "province") == "province"
    assert kpis.cut_of(kpis.MESSAGES, ALL, {"channel": "sms"}, "province") is None
    assert kpis.cut_of(kpis.MESSAGES, ALL, {"channel": "sms", "tier": "vip"}, None) is None
    assert kpis.cut_of(kpis.TASKS, Scope(OWN, agent_id=1), {}, None) is None
    # Every dimension of a rollup but the team has its cut, written with the day.
    for source in kpis.ROLLUPS:
        wanted = {k for k, d in kpis.DIMENSIONS.items() if source in d.columns} - {"team"}
        assert set(cut_columns(source)) == wanted


# Follow-ups that close, of one rule or the other (or none), reached or not — or excluded from
# the baseline (refused, a wrong number, a call-back) — so most examples have a baseline.
closing = st.builds(
    Job,
    customer=st.integers(0, 2),
    team=st.integers(0, 1),
    agent=st.integers(0, 1),
    created=minute,
    close=st.tuples(
        st.integers(0, 3 * 24 * 60),
        st.sampled_from(["done", "cancelled"]),
        st.sampled_from(
            ["reached", "reached", "", "not_reached", "refused", "wrong_number", "call_back"]
        ),
        st.integers(1, 2),
        st.none(),
    ),
    child=st.just(False),
    rule=st.sampled_from([0, 1, 1, None]),
)
CONVERSIONS = [f"{kind}_{days}" for kind in ("conversion", "baseline", "uplift")
               for days in (7, 30, 90)]  # fmt: skip


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tasks=st.lists(closing, min_size=2, max_size=12),
    purchases=st.lists(
        st.builds(
            Happening,
            customer=st.integers(0, 2),
            type=st.just("purchase"),
            occurred=st.integers(0, HORIZON + 10 * 24 * 60),
            arrives=late,
        ),
        min_size=1,
        max_size=6,
    ),
    stops=st.lists(st.integers(0, HORIZON + 6 * 24 * 60), min_size=1, max_size=4, unique=True),
)
def test_the_conversion_baseline_equals_the_raw_count_however_the_purchases_arrive(
    world: World, tasks: list[Job], purchases: list[Happening], stops: list[int]
) -> None:
    """Many follow-ups of two rules, every outcome (refusals, wrong numbers and call-backs are
    left out of the baseline's pool), purchases arriving late: the baseline and the uplift,
    in total and by rule, equal those counted over the raw rows."""
    _clear()
    writer = Writer(world)
    plan: tuple[list[Send], list[Job], list[Happening]] = ([], tasks, purchases)
    for stop in [*sorted(stops), HORIZON + 20 * 24 * 60]:
        writer.write(stop, plan)
        refresh(at(stop))
        start, end = whole()
        want = expected_kpis(start, end)
        got = kpis.totals(WHOLE, ALL, kpis=CONVERSIONS).values
        assert got == pytest.approx({k: want[k] for k in CONVERSIONS}), stop
        for row in kpis.breakdown(WHOLE, ALL, "rule", kpis=CONVERSIONS):
            mine = expected_kpis(start, end, Task.objects.filter(rule_id=row.key))
            assert row.values == pytest.approx({k: mine[k] for k in CONVERSIONS}), row.key


def _history(world: World) -> None:
    """A fixed history: each team's customer gets a message, a task and a complaint."""
    for n in range(2):
        customer = world.customers[n]
        Message.objects.create(
            customer=customer, channel="sms", template="t", planned_at=at(0), created_at=at(0),
            sent_at=at(1), delivered_at=at(2 + n), status="delivered",
        )  # fmt: skip
        for k in range(n + 1):
            Task.objects.create(
                customer=customer, team=world.teams[n], assignee=world.agents[n], title="回访",
                step="call", created_at=at(k), status="done", outcome="reached", attempts=1,
                closed_at=at(60),
            )  # fmt: skip
        Event.objects.create(customer=customer, type="complaint", occurred_at=at(120))
    refresh(at(HORIZON))


def test_each_reader_sees_only_their_scope(world: World) -> None:
    _clear()
    _history(world)
    supervisor = make_staff("sup", Role.SUPERVISOR, team=world.teams[1])
    analyst = make_staff("ana", Role.ANALYST)
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    everyone = kpis.totals(period, scope_for(analyst)).values
    assert everyone["tasks_opened"] == 3 and everyone["sent"] == 2 and everyone["complaints"] == 2
    team = kpis.totals(period, scope_for(supervisor)).values
    assert team["tasks_opened"] == 2 and team["sent"] == 1 and team["complaints"] == 1
    own = kpis.totals(period, scope_for(world.agents[0])).values
    assert own["tasks_opened"] == 1
    # Messages and events have no agent: an agent sees none of their figures.
    assert own["sent"] is None and own["complaints"] is None and own["reach_rate"] is None
    by_team = {row.key: row.values for row in kpis.breakdown(period, ALL, "team")}
    assert by_team[world.teams[0].pk]["complaint_rate"] == pytest.approx(50.0)  # 1 of 2
    assert by_team[world.teams[1].pk]["complaint_rate"] == pytest.approx(100 / 3)
    by_source = {row.key: row.values for row in kpis.breakdown(period, ALL, "source")}
    assert by_source["门店A"]["sent"] == 1 and by_source["门店A"]["tasks_opened"] is None
    by_category = {r.key: r.values for r in kpis.breakdown(period, ALL, "product_category")}
    assert set(by_category) == {"冰箱", "家电"}


def test_the_command_prints_the_totals_as_json_and_a_table(world: World) -> None:
    _clear()
    _history(world)
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    out = StringIO()
    call_command("analytics", "kpis", "--from", "2026-11-01", "--to", "2026-11-30", "--json",
                 stdout=out)  # fmt: skip
    printed = json.loads(out.getvalue())
    assert printed["rows"][0]["values"] == kpis.totals(period, ALL).values
    out = StringIO()
    call_command("analytics", "kpis", "--from", "2026-11-01", "--to", "2026-11-30", "--by",
                 "team", "--json", stdout=out)  # fmt: skip
    rows = json.loads(out.getvalue())["rows"]
    assert [r["values"] for r in rows] == [r.values for r in kpis.breakdown(period, ALL, "team")]
    out = StringIO()
    call_command("analytics", "kpis", "--from", "2026-11-01", "--to", "2026-11-30",
                 "--grain", "week", stdout=out)  # fmt: skip
    assert "Delivery rate" in out.getvalue() or "送达率" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01", "--to", "2026-12-01"], "不是日期"),
        (["--from", "2026-12-02", "--to", "2026-12-01"], "结束"),
        (["--from", "2026-11-01", "--to", "2026-11-30", "--by", "colour"], "未知维度"),
    ],
)
def test_the_command_refuses_bad_input_in_the_users_language(
    db: None, args: list[str], message: str
) -> None:
    with translation.override("zh-hans"), pytest.raises(CommandError) as refused:
        call_command("analytics", "kpis", *args)
    assert refused.value.returncode == 2
    assert message in str(refused.value)


def test_late_arrivals_update_the_cohort_of_their_old_day(world: World) -> None:
    """A click, reply, answer, receipt, complaint or purchase days after the message or task
    it concerns, past the refresh's recent days, still updates that day's cohort."""
    _clear()
    customer = world.customers[0]
    message = Message.objects.create(
        customer=customer, channel="sms", template="t", links=["https://x.cn"],
        survey_version=world.version, planned_at=at(0), created_at=at(0), sent_at=at(1),
        status="sent",
    )  # fmt: skip
    task = Task.objects.create(
        customer=customer, team=world.teams[0], title="回访", step="call", created_at=at(0),
        status="done", outcome="reached", attempts=1, closed_at=at(30),
    )  # fmt: skip
    # Called twice without an answer, then cancelled two days later: the baseline's pool.
    unreached = Task.objects.create(
        customer=customer, team=world.teams[0], title="回访", step="call", created_at=at(0),
        status="cancelled", outcome="not_reached", attempts=2, closed_at=at(3 * 24 * 60 + 60),
    )  # fmt: skip
    Task.objects.filter(pk=task.pk).update(updated_at=at(30))
    Task.objects.filter(pk=unreached.pk).update(updated_at=at(3 * 24 * 60 + 60))
    refresh(at(10 * 24 * 60))
    week = Period(date(2026, 11, 2), date(2026, 11, 8))
    keys = ["delivery_rate", "click_rate", "reply_rate", "survey_response_rate", "fcr",
            "conversion_30", "baseline_30"]  # fmt: skip
    assert kpis.totals(week, ALL, kpis=keys).values == dict.fromkeys(keys, 0.0) | {"fcr": 100.0}
    two_days = at(2 * 24 * 60)
    arrivals: list[tuple[str, Any]] = [
        ("click_rate", lambda: Click.objects.create(
            message=message, index=0, url="https://x.cn", clicked_at=two_days)),
        ("reply_rate", lambda: Event.objects.create(
            customer=customer, type="message_replied", occurred_at=two_days,
            properties={"message": message.pk})),
        ("survey_response_rate", lambda: Response.objects.create(
            version=world.version, customer=customer, channel="sms", message_id=message.pk,
            started_at=two_days, submitted_at=two_days)),
        ("delivery_rate", lambda: Message.objects.filter(pk=message.pk).update(
            delivered_at=at(10 * 24 * 60 + 13), status="delivered")),
        ("fcr", lambda: Event.objects.create(
            customer=customer, type="complaint", occurred_at=two_days)),
        ("conversion_30", lambda: Event.objects.create(
            customer=customer, type="purchase", occurred_at=at(5 * 24 * 60))),
    ]  # fmt: skip
    for n, (key, arrive) in enumerate(arrivals):
        arrive()
        refresh(at(10 * 24 * 60 + 10 + n))
        assert kpis.totals(week, ALL, kpis=[key]).values[key] == (0.0 if key == "fcr" else 100.0)
    # The purchase follows the cancelled task too: its day, past the recent days, is redone.
    assert kpis.totals(week, ALL, kpis=["baseline_30"]).values["baseline_30"] == 100.0
    assert Task.objects.get(pk=task.pk).closed_at == at(30)
