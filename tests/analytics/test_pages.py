"""The analytics pages: the figures they show are ``kpis``' figures, narrowed to the reader's
scope; every number leads to its rows (masked, scoped); a bad period is a 400 with a message."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from huifang.accounts.roles import Role
from huifang.analytics import kpis
from huifang.analytics.periods import Period
from huifang.analytics.rollup import rebuild, refresh
from huifang.analytics.scope import ALL, scope_for
from huifang.analytics.views import shown
from huifang.customers.models import Event
from huifang.messaging.models import Message
from tests.analytics.seed import NOW, History, seed
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def history(service_team: Any, bob: Any, carol: Any) -> History:
    return seed(service_team, bob, carol)


@pytest.fixture
def analyst_client(db: None) -> Client:
    client = Client()
    client.force_login(make_staff("ann", Role.ANALYST))
    return client


def card(html: str, key: str) -> str:
    found = re.search(
        rf'data-kpi="{key}".*?class="fs-4 fw-semibold kpi-value">(.*?)</div>', html, re.S
    )
    assert found, key
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def beside(html: str, key: str) -> str:
    """A figure shown beside a card's value (a conversion's baseline and uplift)."""
    found = re.search(rf'<span data-kpi="{key}"[^>]*>(.*?)</span>', html, re.S)
    assert found, key
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def test_the_cockpit_shows_the_kpis_of_the_rollups(
    analyst_client: Client, history: History
) -> None:
    page = analyst_client.get("/analytics/", NOVEMBER)
    assert page.status_code == 200
    html = page.content.decode()
    expected = kpis.totals(Period(*_days(), "day"), ALL)
    aside = {key: kpi for kpi in kpis.KPIS.values() for key in kpi.beside}
    for key, kpi in kpis.KPIS.items():
        if key in aside:
            shown_beside = beside(html, key)
            assert shown_beside == f"{kpi.short} {shown(kpi, expected.values[key])}", key
            # On the card of its own conversion, after its value.
            assert html.index(f'data-kpi="{aside[key].key}"') < html.index(
                f'<span data-kpi="{key}"'
            )
        else:
            assert card(html, key) == shown(kpi, expected.values[key]), key
    assert card(html, "sent") == "50"  # 10 customers × 5 days
    assert expected.values["completion_rate"] == pytest.approx(50.0)  # 3 + 2 of 10 done
    assert card(html, "completion_rate") == "50.0%"
    found = re.search(r'id="cockpit-data"[^>]*>(.*?)</script>', html, re.S)
    assert found
    data = json.loads(found.group(1))
    assert len(data["labels"]) == 30 and data["rates"] and data["nps"]
    assert data["funnel"][0] == {"name": "已发送", "value": 50}
    # Complaint hot spots (or, without a complaints KPI, the worst NPS) by province and city.
    assert 'data-hotspots="province"' in html and "广东" in html and "浙江" in html


def _days() -> tuple[date, date]:
    return date(2026, 11, 1), date(2026, 11, 30)


def test_the_change_against_the_previous_period_and_a_custom_comparison(
    analyst_client: Client, history: History
) -> None:
    page = analyst_client.get("/analytics/", {"from": "2026-11-03", "to": "2026-11-04"})
    html = page.content.decode()
    # 20 sent on the 3rd and 4th against 20 on the 1st and 2nd (10 on the 2nd): +100 %.
    assert card(html, "sent") == "20"
    assert "+100.0%" in html
    custom = analyst_client.get(
        "/analytics/",
        {
            "from": "2026-11-03", "to": "2026-11-04", "compare": "custom",
            "compare_from": "2026-11-05", "compare_to": "2026-11-06",
        },
    )  # fmt: skip
    assert custom.status_code == 200
    html = custom.content.decode()
    assert "2026-11-05" in html and "2026-11-06" in html
    # Messages go out on the 2nd to the 6th: 20 on the 3rd and 4th against 20 on the 5th, 6th.
    assert re.search(
        r'data-kpi="sent".*?kpi-change"><i class="bi bi-arrow-right"></i> \+0.0%', html, re.S
    )


@pytest.mark.parametrize(
    "params, message",
    [
        ({"from": "2026-11-30", "to": "2026-11-01"}, "结束"),
        ({"from": "yesterday", "to": "2026-11-01"}, "yesterday"),
        ({"period": "2y"}, "2y"),
        ({"from": "2025-01-01", "to": "2026-11-01"}, "367"),
        ({"compare": "custom", "compare_from": "2026-10-01"}, ""),
    ],
)
def test_a_bad_period_is_a_400_with_its_message(
    analyst_client: Client, history: History, params: dict[str, str], message: str
) -> None:
    for url in ("/analytics/", "/analytics/teams/", "/analytics/list/"):
        if url != "/analytics/" and "compare" in params:
            continue
        page = analyst_client.get(url, params)
        assert page.status_code == 400, url
        html = page.content.decode()
        assert 'role="alert"' in html and message in html, url


def test_a_supervisor_sees_only_their_teams(carol_client: Client, history: History) -> None:
    page = carol_client.get("/analytics/teams/", NOVEMBER)
    html = page.content.decode()
    assert history.service.name in html and history.sales.name not in html
    agents = carol_client.get("/analytics/teams/", {**NOVEMBER, "by": "agent"}).content.decode()
    assert "Bob" in agents and "Erin" not in agents
    cockpit = carol_client.get("/analytics/", NOVEMBER).content.decode()
    assert card(cockpit, "sent") == "30"  # the service team's 6 customers × 5 days
    assert "浙江" not in cockpit


def test_an_agent_sees_only_their_own_tasks(bob_client: Client, history: History) -> None:
    cockpit = bob_client.get("/analytics/", NOVEMBER).content.decode()
    assert 'data-kpi="sent"' not in cockpit  # messages have no agent
    assert 'id="hidden-note"' in cockpit
    expected = kpis.totals(Period(*_days()), scope_for(history.bob))
    assert card(cockpit, "completion_rate") == shown(
        kpis.KPIS["completion_rate"], expected.values["completion_rate"]
    )
    assert card(cockpit, "tasks_opened") == "6"
    agents = bob_client.get("/analytics/teams/", {**NOVEMBER, "by": "agent"}).content.decode()
    assert "Bob" in agents and "Erin" not in agents
    listed = bob_client.get("/analytics/list/", {**NOVEMBER, "kind": "tasks", "measure": "opened"})
    assert listed.status_code == 200
    rows = listed.content.decode()
    assert rows.count("回访 深圳客户") == 6 and "杭州" not in rows
    messages = bob_client.get("/analytics/list/", {**NOVEMBER, "kind": "messages"})
    assert 'id="out-of-scope"' in messages.content.decode()


def test_an_analyst_sees_every_team(analyst_client: Client, history: History) -> None:
    html = analyst_client.get("/analytics/teams/", NOVEMBER).content.decode()
    assert history.service.name in html and history.sales.name in html
    for page in ("channels", "rules"):
        assert analyst_client.get(f"/analytics/{page}/", NOVEMBER).status_code == 200


def test_the_performance_table_sorts_and_links_to_its_rows(
    analyst_client: Client, history: History
) -> None:
    up = analyst_client.get(
        "/analytics/teams/", {**NOVEMBER, "sort": "completion_rate", "dir": "asc"}
    )
    html = up.content.decode()
    # Service: 3 of 6 done (50 %); sales: 2 of 4 (50 %) — equal, so sort by opened instead.
    opened = analyst_client.get(
        "/analytics/teams/", {**NOVEMBER, "sort": "tasks_opened", "dir": "desc"}
    )
    body = opened.content.decode()
    assert body.index(history.service.name) < body.index(history.sales.name)
    asc = analyst_client.get(
        "/analytics/teams/", {**NOVEMBER, "sort": "tasks_opened", "dir": "asc"}
    )
    text = asc.content.decode()
    assert text.index(history.sales.name) < text.index(history.service.name)
    assert 'aria-sort="ascending"' in text and "completion_rate" in html
    link = re.search(
        rf'href="(/analytics/list/\?kind=tasks&amp;measure=opened[^"]*team={history.sales.pk}[^"]*)"',
        text,
    )
    assert link, "the opened count of a team links to its tasks"
    listed = analyst_client.get(link.group(1).replace("&amp;", "&")).content.decode()
    assert listed.count("回访 杭州客户") == 4 and "深圳" not in listed


def test_the_drill_down_list_is_masked_scoped_and_paginated(
    analyst_client: Client, carol_client: Client, history: History
) -> None:
    sent = analyst_client.get(
        "/analytics/list/", {**NOVEMBER, "kind": "messages", "measure": "sent"}
    )
    html = sent.content.decode()
    assert "50" in html and "1 / 1" not in html  # exactly one page of 50
    customer = history.service_customers[0]
    assert customer.phone not in html and customer.phone_masked in html
    # The delivery rate's number: the messages sent in the period and delivered since.
    delivered = analyst_client.get(
        "/analytics/list/",
        {**NOVEMBER, "kind": "messages", "measure": "sent_delivered", "province": "浙江"},
    ).content.decode()
    expected = kpis.totals(Period(*_days()), ALL, filters={"province": "浙江"}).sums[
        "messages.sent_delivered"
    ]
    assert expected == 13  # of 4 customers × 5 days, (i + d) % 3 == 0 is undelivered
    assert delivered.count("杭州客户") == expected and "深圳客户" not in delivered
    assert f"{expected} 行" in delivered
    theirs = carol_client.get("/analytics/list/", {**NOVEMBER, "kind": "answers"}).content.decode()
    assert theirs.count("深圳客户") == 6 and "杭州客户" not in theirs
    other_team = carol_client.get(
        "/analytics/list/", {**NOVEMBER, "kind": "tasks", "team": str(history.sales.pk)}
    ).content.decode()
    assert "杭州客户" not in other_team


def test_the_drill_down_list_pages_by_fifty(analyst_client: Client, history: History) -> None:
    customer = history.sales_customers[0]
    for _n in range(51):
        Message.objects.create(
            customer=customer, template="t", channel="sms", planned_at=NOW, created_at=NOW
        )
    refresh(NOW)  # the worker's next run: the list's total and pages follow the rollup
    first = analyst_client.get(
        "/analytics/list/", {**NOVEMBER, "kind": "messages", "measure": "created"}
    )
    assert "1 / 3" in first.content.decode() and 'id="next-page"' in first.content.decode()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"kind": "orders"}, "orders"),
        ({"kind": "tasks", "measure": "sent"}, "sent"),
        ({"kind": "tasks", "team": "abc"}, "abc"),
        ({"kind": "tasks", "channel": "sms"}, "渠道"),
    ],
)
def test_a_bad_drill_down_is_a_400(
    analyst_client: Client, history: History, params: dict[str, str], message: str
) -> None:
    page = analyst_client.get("/analytics/list/", {**NOVEMBER, **params})
    assert page.status_code == 400
    assert message in page.content.decode()


def test_the_pages_are_in_english_when_chosen(analyst_client: Client, history: History) -> None:
    analyst_client.cookies["django_language"] = "en"
    html = analyst_client.get("/analytics/", NOVEMBER).content.decode()
    assert "Management cockpit" in html and "Delivery rate" in html
    assert (
        analyst_client.get("/analytics/", {"period": "2y"}).content.decode().count("Unknown period")
        == 1
    )


def test_the_replied_list_holds_the_messages_the_figure_counts(
    analyst_client: Client, history: History
) -> None:
    customer = history.sales_customers[1]
    message = Message.objects.filter(customer=customer).order_by("sent_at").first()
    assert message is not None and message.sent_at is not None
    for minutes in (5, 9):  # the second reply to the same message counts once
        Event.objects.create(
            customer=customer,
            type="message_replied",
            occurred_at=message.sent_at + timedelta(minutes=minutes),
            properties={"message": message.pk},
        )
    rebuild(None, None, NOW)
    html = analyst_client.get("/analytics/", NOVEMBER).content.decode()
    # The response rate's cohort: the messages sent in the period replied to since, once each.
    expected = kpis.totals(Period(*_days()), ALL).sums["messages.sent_replied"]
    assert expected == 1
    listed = analyst_client.get(
        "/analytics/list/", {**NOVEMBER, "kind": "messages", "measure": "sent_replied"}
    ).content.decode()
    assert listed.count("杭州客户1") == 1 and "深圳" not in listed
    # The card's number leads to the replied ones, and "of 50" to the replyable ones.
    assert re.search(r'data-kpi="reply_rate".*?href="[^"]*measure=sent_replied', html, re.S)
    assert re.search(r'data-kpi="reply_rate".*?kpi-lists.*?measure=sent_replyable', html, re.S)
