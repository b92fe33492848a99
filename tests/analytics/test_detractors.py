"""The cockpit's detractors who still need a call: NPS 0–6 answers of the period whose
recovery call (detractor-recovery, or a call with the revisit-check questionnaire) is open or
was never opened; lowest score first; customers masked; narrowed to the reader's scope. And
the export and schedule links, shown to the readers allowed to use them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from huifang.accounts.roles import Role
from huifang.analytics import views
from huifang.analytics.periods import Period
from huifang.analytics.scope import scope_for
from huifang.rules.models import Rule
from huifang.surveys.models import Response, Survey, SurveyVersion
from huifang.tasks.models import Task
from tests.analytics.seed import NOW, START, History, seed
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30), "day")


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def history(service_team: Any, bob: Any, carol: Any) -> History:
    """The seed's detractors, all answered on START + 1 day: 深圳客户2 (NPS 6), 3 (4), 4 (2),
    5 (0) of the service team; 杭州客户2 (6), 3 (4) of sales. Their recovery calls:

    - 深圳客户5: detractor-recovery task, open, bob (service);
    - 深圳客户4: revisit-check call, done — no longer waiting;
    - 深圳客户3: none;
    - 深圳客户2: detractor-recovery task, in progress, erin (sales);
    - 杭州客户3: revisit-check call, open, bob (service);
    - 杭州客户2: none, but a recovery task done *before* the answer (it does not count).
    """
    world = seed(service_team, bob, carol)
    rule = Rule.objects.create(key="detractor-recovery", name="贬损者挽回与复访")
    revisit = Survey.objects.create(key="revisit-check", name="问题解决回访")
    check = SurveyVersion.objects.create(survey=revisit, number=1, content={})
    answered = START + timedelta(days=1)
    sz, hz = world.service_customers, world.sales_customers

    def call(customer: Any, *, agent: Any, status: str, by_rule: bool, at: Any = None) -> Task:
        return Task.objects.create(
            customer=customer,
            team=agent.staff_profile.team,
            assignee=agent,
            title=f"低分挽回：{customer.name}",
            rule=rule if by_rule else None,
            survey_version=None if by_rule else check,
            created_at=at or answered + timedelta(minutes=5),
            due_at=answered + timedelta(days=1),
            status=status,
        )

    call(sz[5], agent=bob, status="open", by_rule=True)
    call(sz[4], agent=bob, status="done", by_rule=False)
    call(sz[2], agent=world.erin, status="in_progress", by_rule=True)
    call(hz[3], agent=bob, status="open", by_rule=False)
    call(hz[2], agent=world.erin, status="done", by_rule=True, at=answered - timedelta(days=1))
    return world


def names(rows: Any) -> list[str]:
    return [r.customer.name for r in rows]


def test_the_detractors_waiting_for_a_call_lowest_score_first(history: History) -> None:
    rows = list(views.detractors(PERIOD, scope_for(make_staff("ann", Role.ANALYST))))
    assert names(rows) == ["深圳客户5", "深圳客户3", "杭州客户3", "深圳客户2", "杭州客户2"]
    assert [r.nps for r in rows] == [0, 4, 4, 6, 6]
    shown = {row["customer"]: row for row in views.detractor_rows(rows)}
    assert shown["深圳客户5"]["task"].title == "低分挽回：深圳客户5"
    assert str(shown["深圳客户5"]["assignee"]) == "Bob"
    assert shown["深圳客户3"]["task"] is None and shown["深圳客户3"]["assignee"] is None
    assert shown["深圳客户2"]["task"].status == "in_progress"
    assert shown["杭州客户2"]["task"] is None  # the call before the answer is not its call
    assert shown["深圳客户5"]["phone"] == "138****0005"


def test_other_periods_and_promoters_are_not_listed(history: History) -> None:
    december = Period(date(2026, 12, 1), date(2026, 12, 31), "day")
    assert not views.detractors(december, scope_for(make_staff("ann", Role.ANALYST))).exists()
    Response.objects.filter(customer__name="深圳客户3").update(nps=7)
    rows = views.detractors(PERIOD, scope_for(make_staff("ann2", Role.ANALYST)))
    assert "深圳客户3" not in names(rows)


def test_narrowed_to_the_readers_scope(history: History, bob: Any, carol: Any) -> None:
    # carol supervises service: its answers, and the answers whose call is with service.
    assert names(views.detractors(PERIOD, scope_for(carol))) == [
        "深圳客户5", "深圳客户3", "杭州客户3", "深圳客户2",
    ]  # fmt: skip
    # Agents: the detractors whose recovery call is theirs.
    assert names(views.detractors(PERIOD, scope_for(bob))) == ["深圳客户5", "杭州客户3"]
    assert names(views.detractors(PERIOD, scope_for(history.erin))) == ["深圳客户2"]


def test_the_count_is_the_lists_length_in_every_scope(
    history: History, bob: Any, carol: Any
) -> None:
    """The list (per answer, in order) and its count (one pass) state the same rule twice:
    they agree for every reader, with and without recovery calls, and when the calls close."""
    readers = [make_staff("ann", Role.ANALYST), carol, bob, history.erin]

    def agree() -> None:
        for reader in readers:
            scope = scope_for(reader)
            assert views.detractor_count(PERIOD, scope) == len(views.detractors(PERIOD, scope))

    agree()
    Task.objects.filter(customer__name="深圳客户5").update(status="done")
    agree()
    Task.objects.filter(customer__name="杭州客户2").update(created_at=NOW)  # now after the answer
    agree()
    Task.objects.all().delete()
    Rule.objects.filter(key="detractor-recovery").delete()
    assert views.detractor_count(PERIOD, scope_for(readers[0])) == 6
    agree()


def test_the_cockpit_shows_the_first_few_masked_with_a_link_to_all(
    history: History, carol_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "DETRACTOR_ROWS", 2)
    html = carol_client.get("/analytics/", NOVEMBER).content.decode()
    section = html[html.index('id="detractors"') : html.index('id="cockpit-data"')]
    assert section.count("data-response=") == 2
    assert section.index("深圳客户5") < section.index("深圳客户3")
    assert "杭州客户2" not in section
    assert "138****0005" in section and "13800130005" not in section
    task = Task.objects.get(customer__name="深圳客户5", rule__key="detractor-recovery")
    assert f'href="/tasks/{task.pk}/"' in section
    assert 'href="/analytics/detractors/?from=2026-11-01&amp;to=2026-11-30' in section

    page = carol_client.get("/analytics/detractors/", NOVEMBER)
    assert page.status_code == 200
    listed = page.content.decode()
    assert listed.count("data-response=") == 4
    assert "13800130005" not in listed and "138****0005" in listed


def test_an_agent_sees_only_their_calls_on_the_cockpit(
    history: History, bob_client: Client
) -> None:
    html = bob_client.get("/analytics/", NOVEMBER).content.decode()
    section = html[html.index('id="detractors"') : html.index('id="cockpit-data"')]
    assert section.count("data-response=") == 2
    assert "深圳客户3" not in section and "深圳客户2" not in section


def test_the_detractor_list_says_what_is_wrong_with_a_bad_period(bob_client: Client) -> None:
    page = bob_client.get("/analytics/detractors/", {"from": "2026-11-30", "to": "2026-11-01"})
    assert page.status_code == 400
    assert "alert-danger" in page.content.decode()


def test_read_through_the_partial_index(history: History) -> None:
    """The detractors are a handful of rows of a long history: the page reads the period's
    responses through an index (response_detractor_order in the order shown, or one on
    ``submitted_at``, whichever the planner prefers), never the whole responses table."""
    rows = views.detractors(PERIOD, scope_for(make_staff("ann", Role.ANALYST)))
    with CaptureQueriesContext(connection) as queries:
        list(rows[:5])
    sql = queries.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        cursor.execute(prefix + sql)
        plan = " ".join(str(r) for r in cursor.fetchall())
    if connection.vendor == "sqlite":  # the planner takes the index it is given on PostgreSQL
        assert "SCAN surveys_response" not in plan, plan
        assert any(
            index in plan
            for index in (
                "response_detractor_order",
                "survey_response_detractors",
                "response_submitted_day_idx",
            )
        ), plan
    assert "task_customer_idx" in plan or connection.vendor != "sqlite", plan


# ---------------------------------------------------------------------------- exports


@pytest.mark.parametrize(
    ("role", "exports"), [(Role.ANALYST, True), (Role.SUPERVISOR, True), (Role.AGENT, False)]
)
def test_export_and_schedule_links_by_role(history: History, role: str, exports: bool) -> None:
    client = Client()
    client.force_login(make_staff(f"reader-{role}", role, team=history.service))
    cockpit = client.get("/analytics/", NOVEMBER).content.decode()
    teams = client.get("/analytics/teams/", {**NOVEMBER, "by": "agent"}).content.decode()
    period = "from=2026-11-01&amp;to=2026-11-30&amp;grain=day"
    totals = f'href="/analytics/export/?table=totals&amp;{period}&amp;format=csv"'
    trend = f'href="/analytics/export/?table=trend&amp;{period}&amp;format=xlsx"'
    agents = f'href="/analytics/export/?table=agent&amp;{period}&amp;format=xlsx"'
    assert (totals in cockpit) is exports
    assert (trend in cockpit) is exports
    assert (agents in teams) is exports
    assert ('id="scheduled-reports"' in cockpit) is exports
    assert ('href="/analytics/schedules/"' in teams) is exports
    if role == Role.ANALYST:  # the hot spots' tables, by region
        assert f'href="/analytics/export/?table=province&amp;{period}&amp;format=csv"' in cockpit
    if exports:
        got = client.get("/analytics/export/?table=totals&" + period.replace("&amp;", "&"))
        assert got.status_code == 200
