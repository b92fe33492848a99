"""Every number drills down to the rows behind it: for generated histories, the list of each
measure any KPI reads (numerator and denominator) holds exactly what the rollup counts, for
the whole history and for each single day, with each dimension's filters, and in a supervisor's and
an agent's scope. The pages link a KPI's number to its numerator's list (the cohort)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from huifang.accounts.roles import Role
from huifang.analytics import kpis
from huifang.analytics.drill import (
    LIST_COLUMNS,
    MEASURE_LABELS,
    MEASURES,
    BadRequest,
    drill_rows,
    scoped,
    total,
)
from huifang.analytics.kpis import DIMENSIONS, KPIS, ROLLUPS
from huifang.analytics.periods import Period
from huifang.analytics.rollup import rebuild
from huifang.analytics.scope import ALL, Scope, scope_for
from huifang.analytics.views import kpi_drill, kpi_lists
from huifang.customers.models import Event
from tests.analytics.test_kpis import (  # noqa: F401 - the world fixture
    HORIZON,
    WHOLE,
    Happening,
    Job,
    Send,
    World,
    Writer,
    _clear,
    at,
    happenings,
    jobs,
    sends,
    world,
)
from tests.conftest import make_staff

# Single days of the generated histories (sends from 2 November, 23:30 Shanghai, over six
# days): a cohort counted by the wrong timestamp lands on another day.
DAYS = [Period(date(2026, 11, d), date(2026, 11, d), "day") for d in range(2, 10)]


def kpi_measures() -> list[tuple[str, str]]:
    """Every (rollup, measure) some KPI reads, in its numerator or its denominator."""
    found: set[tuple[str, str]] = set()
    for kpi in KPIS.values():
        for measure in kpi.numerator + kpi.denominator:
            owner, _dot, name = measure.lstrip("-").rpartition(".")
            found.add((owner or kpi.source, name))
    return sorted(found)


def test_every_kpi_measure_has_a_labelled_list_narrowed_by_the_rollups_dimensions() -> None:
    for kind, measure in kpi_measures():
        assert measure in MEASURES[kind], (kind, measure)
    for kind, measures in MEASURES.items():
        for measure in measures:
            assert (kind, measure) in MEASURE_LABELS
    for kind in ROLLUPS:
        wanted = {name for name, d in DIMENSIONS.items() if kind in d.columns}
        assert set(LIST_COLUMNS[kind]) == wanted, kind


def test_a_kpi_links_to_its_numerators_rows_then_its_denominators() -> None:
    for kpi in KPIS.values():
        url = kpi_drill(kpi, WHOLE)
        assert url is not None, kpi.key
        query = parse_qs(urlparse(url).query)
        owner, _dot, name = kpi.numerator[0].rpartition(".")
        assert query["kind"] == [owner or kpi.source] and query["measure"] == [name], kpi.key
    delivery = [(i["role"], i["key"]) for i in kpi_lists(KPIS["delivery_rate"], WHOLE)]
    assert delivery == [("numerator", "messages.sent_delivered"), ("denominator", "messages.sent")]
    reach = [i["key"] for i in kpi_lists(KPIS["reach_rate"], WHOLE)]
    assert reach == [
        "messages.created_reached", "tasks.created_reached", "messages.created", "tasks.opened",
    ]  # fmt: skip
    # A filter the tasks cannot take leaves the messages' lists alone.
    by_city = [i["key"] for i in kpi_lists(KPIS["reach_rate"], WHOLE, {"city": "杭州"})]
    assert by_city == ["messages.created_reached", "messages.created"]


def _figure(kind: str, measure: str, rows: Any) -> int:
    """What the list adds up to: its rows, its holds, or the values a summed measure sums."""
    if measure == "ces_sum":
        return int(rows.aggregate(n=Sum("ces"))["n"] or 0)
    if measure == "handling_seconds":
        return sum(
            round((t.closed_at - t.started_at).total_seconds())
            for t in rows.only("closed_at", "started_at")
        )
    return total(kind, measure, rows)


def assert_lists_match(period: Period, scope: Scope, filters: dict[str, Any]) -> int:
    """Each measure's list equals the rollup's sum; the number of lists compared."""
    sums = kpis.totals(period, scope, filters=filters).sums
    params = {k: "" if v is None else str(v) for k, v in filters.items()}
    compared = 0
    for kind, measure in kpi_measures():
        key = f"{kind}.{measure}"
        try:
            rows, _described = drill_rows(kind, measure, period, params)
        except BadRequest:  # a filter this rollup does not keep: no figure either
            assert key not in sums, (key, filters)
            continue
        listed = scoped(kind, rows, scope)
        if listed is None:  # out of an agent's scope: no figure either
            assert key not in sums, (key, scope)
            continue
        assert _figure(kind, measure, listed) == sums[key], (key, period, scope, filters)
        compared += 1
    return compared


def _filters(period: Period) -> list[dict[str, Any]]:
    """One filter for each value each dimension has in the rollups in the period."""
    found = []
    for name in DIMENSIONS:
        for row in kpis.breakdown(period, ALL, name):
            found.append({name: row.key})
    return found


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking takes minutes here
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    messages=st.lists(sends, min_size=1, max_size=6),
    tasks=st.lists(jobs, min_size=1, max_size=4),
    events=st.lists(happenings, max_size=5),
)
def test_every_list_holds_what_the_rollup_counts(
    world: World,  # noqa: F811
    messages: list[Send],
    tasks: list[Job],
    events: list[Happening],
) -> None:
    _clear()
    writer = Writer(world)
    end = HORIZON + 20 * 24 * 60
    writer.write(end, (messages, tasks, events))
    rebuild(None, None, at(end))
    supervisor = _supervisor(world)
    agent = scope_for(world.agents[0])
    for period in (WHOLE, *DAYS):
        assert assert_lists_match(period, ALL, {}) == len(kpi_measures())
        assert assert_lists_match(period, scope_for(supervisor), {}) == len(kpi_measures())
        assert_lists_match(period, agent, {})
    for filters in _filters(WHOLE):
        assert_lists_match(WHOLE, ALL, filters)
        assert_lists_match(WHOLE, scope_for(supervisor), filters)


def _supervisor(world: World) -> Any:  # noqa: F811
    """The second team's supervisor (once for every example)."""
    found = get_user_model().objects.filter(username="sup").first()
    return found or make_staff("sup", Role.SUPERVISOR, team=world.teams[1])


pytestmark = pytest.mark.django_db


def test_the_events_list_is_masked_scoped_and_counted(world: World) -> None:  # noqa: F811
    _clear()
    for n, customer in enumerate(world.customers):
        for k in range(n + 1):
            Event.objects.create(customer=customer, type="complaint", occurred_at=at(60 * k))
    rebuild(None, None, at(HORIZON))
    customer = world.customers[1]
    customer.phone = "+8613800138000"
    customer.save()
    supervisor = make_staff("sup", Role.SUPERVISOR, team=world.teams[1])
    client = Client()
    client.force_login(supervisor)
    params = {"from": "2026-11-01", "to": "2026-11-30", "kind": "events"}
    page = client.get("/analytics/list/", {**params, "measure": "repeat_complaints"})
    assert page.status_code == 200
    html = page.content.decode()
    # Only the team's customer (2 complaints, the second a repeat): 1 row.
    assert re.search(r'id="list-total">1 行<', html)
    assert "客户1" in html and "客户0" not in html and "客户2" not in html
    assert "+8613800138000" not in html and customer.phone_masked in html
    cockpit = client.get("/analytics/", {"from": "2026-11-01", "to": "2026-11-30"})
    assert "kind=events&amp;measure=complaints" in cockpit.content.decode()
    agent = Client()
    agent.force_login(world.agents[0])
    theirs = agent.get("/analytics/list/", {**params, "measure": "complaints"}).content.decode()
    assert 'id="out-of-scope"' in theirs and "客户0" not in theirs
    bad = client.get("/analytics/list/", {**params, "measure": "complaints", "agent": "1"})
    assert bad.status_code == 400
