"""The rule dashboard (策略看板) and the rule page's figures: what a small, known history of
enrollments, messages, replies, tasks and gate decisions — made by the real engine, dispatcher,
receipts, replies and task outcomes on a virtual clock — adds up to, day by day in the
organisation's zone; with a fixed number of queries however many rules there are."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from playwright.sync_api import Page, expect

from huifang.accounts.roles import Role
from huifang.analytics.rollup import rebuild
from huifang.messaging import receipts
from huifang.messaging.inbound import record_reply
from huifang.messaging.models import Message, Reason
from huifang.rules.models import Rule
from huifang.studio.dashboard import (
    HELD_LABELS,
    Period,
    PeriodError,
    ending_badge,
    figures,
    held_badge,
    period_from,
)
from huifang.tasks.models import Task
from huifang.tasks.outcomes import Report, record
from tests.browser.fixtures import assert_fits, log_in
from tests.conftest import make_staff
from tests.engine.world import World, local

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]

THANKS = {
    "key": "visit-thanks",
    "name": "到店感谢",
    "trigger": {"kind": "event", "event": "visit"},
    "policy": {"quiet_hours": {"start": "21:00", "end": "08:00"}},
    "steps": [
        {
            "id": "thanks",
            "send": {"channel": "sms", "template": "thanks"},
            "wait_reply": {"days": 3},
            "on_reply": "stop",
        }
    ],
}
CALL = {
    "key": "purchase-call",
    "name": "购后电话",
    "trigger": {"kind": "event", "event": "service_completed"},
    "steps": [{"id": "call", "task": {"title": "回访 {{客户姓名}}", "sla": {"hours": 2}}}],
}
NOW = "2026-06-10 12:00"  # a Wednesday; "last 7 days" is 4–10 June
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(autouse=True)
def shanghai_time(settings: Any) -> None:
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def world() -> World:
    return World(local("2026-06-01 09:00"))


def deliver(message: Message, at: str) -> None:
    """The carrier's receipt for a message the log transport handed over."""
    message.refresh_from_db()
    report = receipts.Report(reference=message.provider_ref, delivered=True, at=local(at))
    receipts.apply(message.provider_id, [report], now=local(at))  # type: ignore[arg-type]


def history(world: World, bob: Any) -> dict[str, Any]:
    """到店感谢 (quiet hours 21:00–08:00, waits 3 days for a reply) and 购后电话 (a task with a
    two-hour SLA), from 1 June to 10 June 12:00."""
    thanks, call = world.rule(THANKS), world.rule(CALL)
    old, late, early = world.customer("老客"), world.customer("晚到"), world.customer("早到")
    refused = world.customer("未同意", consent=())
    buyers = [world.customer(f"买家{n}") for n in range(4)]

    def reached(customer: Any) -> None:
        task = Task.objects.get(customer=customer)
        record(task, Report(outcome="reached"), actor=bob, now=world.now)

    world.event(old, "visit")  # 1 June: sent at once, no reply: completed on 4 June 09:00
    world.travel(local("2026-06-02 10:00"))
    world.event(buyers[0], "service_completed")  # a task done at once, on 2 June
    world.run()
    reached(buyers[0])
    world.travel(local("2026-06-08 10:00"))
    world.event(buyers[1], "service_completed")  # done on 9 June
    world.travel(local("2026-06-09 10:00"))
    world.event(buyers[2], "service_completed")  # due 9 June 12:00: overdue
    world.run()
    reached(buyers[1])
    world.travel(local("2026-06-09 23:55"))
    world.event(late, "visit")  # yesterday in Shanghai: held for the night
    world.travel(local("2026-06-10 00:05"))
    world.event(early, "visit")  # today, though the same UTC day as 23:55: held too
    world.travel(local("2026-06-10 08:01"))  # both go out at 08:00
    late_message = Message.objects.get(customer=late)
    deliver(late_message, "2026-06-10 08:01")
    world.travel(local("2026-06-10 09:00"))
    record_reply(late, "sms", "谢谢", message_id=late_message.pk, now=world.now)
    record_reply(late, "sms", "好的", message_id=late_message.pk, now=world.now)  # once
    record_reply(old, "sms", "哪位", now=world.now)  # names no message: not counted
    record_reply(refused, "sms", "?", message_id=late_message.pk, now=world.now)  # not theirs
    world.event(refused, "visit")  # no consent: dropped
    world.travel(local("2026-06-10 11:30"))
    world.event(buyers[3], "service_completed")  # due 13:30: open, not overdue
    world.travel(local(NOW))
    # The dashboard reads the daily rollups, which the worker keeps up to date every minute.
    rebuild(None, None, world.now)
    return {"thanks": thanks, "call": call}


@pytest.fixture
def known(world: World, bob: Any) -> dict[str, Any]:
    return history(world, bob)


@pytest.fixture
def at_now(world: World) -> Iterator[None]:
    with time_machine.travel(local(NOW), tick=False):
        yield


def test_the_figures_of_today_count_from_midnight_in_the_organisations_zone(
    world: World, known: dict[str, Any]
) -> None:
    today = period_from({"period": "today"}, world.now)
    assert (today.start, today.end) == (local("2026-06-10 00:00"), local("2026-06-11 00:00"))
    found = figures([known["thanks"].pk, known["call"].pk], today, world.now)
    thanks, call = found[known["thanks"].pk], found[known["call"].pk]
    # 早到 (00:05) and 未同意 (09:00) entered today; 晚到 at 23:55 yesterday, the same UTC day.
    assert (thanks.enrolled, thanks.active, thanks.finished) == (2, 1, 2)
    assert {b.key: b.count for b in thanks.endings} == {
        ("completed", "replied"): 1,
        ("completed", "completed"): 1,
    }
    assert (thanks.sent, thanks.delivered, thanks.replied) == (2, 1, 1)
    assert {b.key: b.count for b in thanks.held} == {
        ("defer", "quiet_hours"): 1,  # 早到's, at 00:05; 晚到's was yesterday
        ("drop", "no_consent"): 1,
    }
    assert (call.tasks_open, call.tasks_done, call.tasks_overdue) == (2, 0, 1)
    assert (call.enrolled, call.finished, call.sent, call.held) == (1, 1, 0, [])


def test_the_last_7_days_and_30_days(world: World, known: dict[str, Any]) -> None:
    ids = [known["thanks"].pk, known["call"].pk]
    week = figures(ids, period_from({"period": "7d"}, world.now), world.now)
    thanks, call = week[ids[0]], week[ids[1]]
    assert (thanks.enrolled, thanks.active, thanks.finished) == (3, 1, 3)  # 老客 ended 4 June
    assert (thanks.sent, thanks.delivered, thanks.replied) == (2, 1, 1)
    assert {b.key: b.count for b in thanks.held} == {
        ("defer", "quiet_hours"): 2,
        ("drop", "no_consent"): 1,
    }
    assert (call.enrolled, call.tasks_open, call.tasks_done, call.tasks_overdue) == (3, 2, 1, 1)
    month = figures(ids, period_from({}, world.now), world.now)  # the default: 30 days
    thanks, call = month[ids[0]], month[ids[1]]
    assert (thanks.enrolled, thanks.finished, thanks.sent) == (4, 3, 3)
    assert (call.enrolled, call.tasks_done) == (4, 2)


def test_a_custom_period_is_whole_days_in_the_organisations_zone(
    world: World, known: dict[str, Any]
) -> None:
    period = period_from({"period": "custom", "from": "2026-06-09", "to": "2026-06-09"}, world.now)
    assert (period.start, period.end) == (local("2026-06-09 00:00"), local("2026-06-10 00:00"))
    thanks = figures([known["thanks"].pk], period, world.now)[known["thanks"].pk]
    assert (thanks.enrolled, thanks.sent, thanks.finished) == (1, 0, 0)  # 晚到, at 23:55
    assert [(b.key, b.count) for b in thanks.held] == [(("defer", "quiet_hours"), 1)]
    call = figures([known["call"].pk], period, world.now)[known["call"].pk]
    assert (call.enrolled, call.tasks_done) == (1, 1)
    # Open and overdue are as of now, whatever the period.
    assert (call.tasks_open, call.tasks_overdue) == (2, 1)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "custom", "from": "2026-13-01", "to": "2026-06-09"}, "YYYY-MM-DD"),
        ({"period": "custom", "from": "2026-06-01"}, "YYYY-MM-DD"),
        ({"from": "9 June", "to": "2026-06-09"}, "YYYY-MM-DD"),
        ({"period": "custom", "from": "2026-06-09", "to": "2026-06-01"}, "after the last day"),
        ({"period": "custom", "from": "2024-01-01", "to": "2026-06-09"}, "at most 366 days"),
    ],
)
def test_bad_custom_dates_say_what_is_wrong(
    alice_client: Client, params: dict[str, str], message: str
) -> None:
    with translation.override("en"), pytest.raises(PeriodError, match=message):
        period_from(params, local(NOW))
    page = alice_client.get("/rules/dashboard/", params, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 400
    assert message in page.content.decode()
    assert 'id="rule-dashboard"' not in page.content.decode()


def test_the_dashboard_shows_a_row_per_rule_and_the_total(
    alice_client: Client, known: dict[str, Any], at_now: None
) -> None:
    Rule.objects.create(key="idle-draft", name="未启用")
    page = alice_client.get("/rules/dashboard/", {"period": "7d"})
    assert page.status_code == 200
    rows = {key: f for key, f in ((rule.key, f) for rule, f in page.context["rows"])}
    assert set(rows) == {"visit-thanks", "purchase-call", "idle-draft"}
    assert (rows["idle-draft"].enrolled, rows["idle-draft"].held) == (0, [])
    total = page.context["total"]
    assert (total.enrolled, total.finished, total.sent, total.tasks_open) == (6, 6, 2, 2)
    html = page.content.decode()
    assert html.count('data-held="defer:quiet_hours"') == 2  # the rule's row and the total
    assert "2026-06-04" in html and "2026-06-10" in html
    drafts = alice_client.get("/rules/dashboard/", {"period": "7d", "status": "draft"})
    assert [rule.key for rule, _f in drafts.context["rows"]] == ["idle-draft"]
    assert drafts.context["total"] is None


def test_the_held_reasons_have_readable_labels(
    alice_client: Client, known: dict[str, Any], at_now: None
) -> None:
    html = alice_client.get("/rules/dashboard/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Quiet hours 2" in html
    assert 'title="Held · Quiet hours in the customer&#x27;s time zone"' in html
    assert "No consent 1" in html
    assert "Replied 1" in html  # how 晚到's plan ended


def test_every_way_of_ending_and_every_hold_has_a_label() -> None:
    with translation.override("en"):
        assert ending_badge("exited", "event:purchase", 2).label == "Exit: Purchase"
        assert ending_badge("exited", "event:my_own_event", 1).label == "Exit: my_own_event"
        assert ending_badge("ended", "archived", 1).label == "Rule archived"
        assert ending_badge("ended", "set_switched", 1).title == "Ended"
        assert ending_badge("ended", "", 1).label == "Ended"  # no reason: the status
        badge = held_badge("defer", "day_off", 4)
        assert (badge.label, badge.title, badge.tone) == (
            "Day off",
            "Held · Not a working day",
            "text-bg-warning",
        )
        assert held_badge("drop", "cap", 1).title == "Dropped · Frequency cap reached"
        assert held_badge("drop", "from_a_newer_version", 1).label == "from_a_newer_version"


def test_the_query_count_does_not_grow_with_the_rules(
    world: World,
    known: dict[str, Any],
    alice_client: Client,
    django_assert_num_queries: Any,
) -> None:
    period = period_from({"period": "30d"}, world.now)
    one = [known["thanks"].pk]
    with django_assert_num_queries(5):
        figures(one, period, world.now)
    for n in range(3):
        world.rule({**THANKS, "key": f"more-{n}", "name": f"更多{n}"})
    five = list(Rule.objects.values_list("pk", flat=True))
    assert len(five) == 5
    with django_assert_num_queries(5):
        figures(five, period, world.now)

    Rule.objects.exclude(pk__in=one).update(status=Rule.Status.PAUSED)
    with CaptureQueriesContext(connection) as for_one:
        alice_client.get("/rules/dashboard/", {"status": "active"})
    Rule.objects.update(status=Rule.Status.ACTIVE)
    with django_assert_num_queries(len(for_one.captured_queries)):
        page = alice_client.get("/rules/dashboard/", {"status": "active"})
    assert len(page.context["rows"]) == 5


def test_the_rule_page_loads_its_figures_of_the_last_30_days(
    alice_client: Client, known: dict[str, Any], at_now: None
) -> None:
    page = alice_client.get("/rules/visit-thanks/").content.decode()
    assert 'hx-get="/rules/visit-thanks/figures/"' in page
    assert 'hx-trigger="load"' in page
    assert page.index('id="rule-figures"') < page.index('<div class="row g-3">')
    card = alice_client.get("/rules/visit-thanks/figures/", HTTP_ACCEPT_LANGUAGE="en")
    assert card.status_code == 200
    figures_ = card.context["figures"]
    assert (figures_.enrolled, figures_.active, figures_.sent, figures_.replied) == (4, 1, 3, 1)
    html = card.content.decode()
    assert "Figures (last 30 days)" in html
    assert 'data-held="drop:no_consent"' in html
    assert alice_client.get("/rules/nobody/figures/").status_code == 404


def test_the_list_links_to_the_dashboard(alice_client: Client) -> None:
    html = alice_client.get("/rules/").content.decode()
    assert 'id="rule-dashboard-link"' in html
    assert 'href="/rules/dashboard/"' in html


def test_agents_get_403_and_analysts_read(bob_client: Client, known: dict[str, Any]) -> None:
    assert bob_client.get("/rules/dashboard/").status_code == 403
    assert bob_client.get("/rules/visit-thanks/figures/").status_code == 403
    analyst = Client()
    analyst.force_login(make_staff("dave", Role.ANALYST))
    assert analyst.get("/rules/dashboard/").status_code == 200
    assert analyst.get("/rules/visit-thanks/figures/").status_code == 200


def test_a_period_is_days_in_the_zone_even_across_a_change_of_offset(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Berlin"  # summer time starts on 29 March 2026
    period = Period.of_days("custom", *[local("2026-03-29 12:00").date()] * 2)
    assert period.end - period.start == timedelta(hours=23)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_table_scrolls_and_the_rule_page_loads_its_card(
    live_server: Any, page: Page, alice: Any
) -> None:
    world = World(local("2026-06-01 09:00"))
    history(world, make_staff("bobby", Role.AGENT))
    with time_machine.travel(local(NOW), tick=True):
        log_in(page, live_server.url, "alice")
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{live_server.url}/rules/")
        page.click("#rule-dashboard-link")
        page.click("#period-choice li:nth-child(2) a")  # the last 7 days
        page.wait_for_url("**period=7d**")
        row = page.locator("#rule-dashboard tr[data-rule='visit-thanks']")
        expect(row.locator("[data-figure='enrolled']")).to_have_text("3")
        expect(row.locator("[data-held='defer:quiet_hours']")).to_contain_text("2")
        # The page itself does not scroll sideways: the table does, inside its wrapper.
        assert_fits(page, 390)
        wrapper = page.locator(".table-responsive")
        assert wrapper.evaluate("el => el.scrollWidth > el.clientWidth")
        if os.environ.get("HUIFANG_SCREENSHOTS"):
            page.screenshot(path=str(SCREENSHOTS / "rule-dashboard-390.png"), full_page=True)
        row.locator("a").first.click()
        card = page.locator("#rule-figures")
        expect(card.locator("[data-figure='sent']")).to_have_text("3")  # fetched by htmx
        assert_fits(page, 390)


def test_every_reason_a_message_is_held_or_dropped_for_has_a_label() -> None:
    """A reason added to the outbox (e.g. ``no_survey``) shows on the dashboard in words, not
    as its code."""
    assert set(Reason.values) <= set(HELD_LABELS)
