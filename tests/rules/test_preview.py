"""The impact preview of a rule before it is activated, and activation with a comment and an
in-flight policy."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.customers.models import Customer, Event
from huifang.engine.models import DueStep, Enrollment, TriggerCursor
from huifang.messaging.models import Message
from huifang.rules.models import Rule, RuleChange, RuleVersion
from huifang.studio.models import Preview
from huifang.tasks.models import Task
from tests.conftest import make_staff
from tests.engine.world import World, local

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("strict_templates")]

NOW = "2026-11-02 09:00"  # a Monday, no holiday near

WELCOME = {
    "key": "welcome",
    "name": "购买欢迎",
    "trigger": {"kind": "event", "event": "purchase"},
    "steps": [{"id": "hello", "send": {"channel": "sms", "template": "welcome"}}],
}
AFTER_PURCHASE = {
    "key": "after-purchase",
    "name": "购买后回访",
    "trigger": {"kind": "event", "event": "purchase", "delay": {"days": 1}},
    "steps": [
        {"id": "thanks", "send": {"channel": "sms", "template": "thanks"}, "wait": {"days": 2}},
        {"id": "review", "send": {"channel": "email", "template": "review"}},
        {
            "id": "call",
            "task": {
                "title": "回访 {{客户姓名}}",
                "assign": {"strategy": "least_loaded", "team": "service"},
            },
        },
    ],
}


@pytest.fixture
def world() -> World:
    return World(local("2026-10-30 09:00"))


@pytest.fixture
def frozen() -> Any:
    with time_machine.travel(local(NOW), tick=False) as traveller:
        yield traveller


@pytest.fixture
def purchases(world: World, bob: Any) -> None:
    """Three purchases in the coming days (orders the shop system has already announced)."""
    for name, at in (
        ("王小明", "2026-11-02 10:00"),
        ("李雷", "2026-11-02 15:00"),
        ("韩梅梅", "2026-11-03 11:00"),
    ):
        world.event(world.customer(name), "purchase", at=local(at), amount=300)


def result(client: Client, rule: Rule, **params: Any) -> Any:
    """The figures as the page gets them: asked for, simulated by the worker (Huey runs tasks
    in the process here, once the request's transaction commits), asked for again."""
    url = reverse("rules:preview_result", args=[rule.key])
    with TestCase.captureOnCommitCallbacks(execute=True):
        first = client.get(url, params)
    if b'id="preview-progress"' not in first.content:
        return first
    return client.get(url, params)


def page(client: Client, rule: Rule, **params: Any) -> Any:
    return client.get(reverse("rules:preview", args=[rule.key]), params)


def test_the_preview_shows_sends_per_day_per_channel_alone_and_with_the_active_rules(
    world: World, purchases: None, carol_client: Client, frozen: Any
) -> None:
    world.rule(WELCOME)
    rule = world.rule(AFTER_PURCHASE, active=False)

    page = carol_client.get(reverse("rules:preview", args=[rule.key]))
    assert page.status_code == 200
    assert (
        b'id="impact"' in page.content
        and b'hx-get="/rules/after-purchase/preview/result/' in page.content
    )
    assert b'id="activate-form"' in page.content and b'name="in_flight"' not in page.content

    response = result(carol_client, rule, days=7, version=1)
    assert response.status_code == 200
    impact = response.context["impact"]
    assert impact["dates"][:5] == [
        "2026-11-02",
        "2026-11-03",
        "2026-11-04",
        "2026-11-05",
        "2026-11-06",
    ]
    assert len(impact["dates"]) == 8  # 09:00 on the 2nd to 09:00 on the 9th
    assert [code for code, _label in impact["channels"]] == ["email", "sms"]
    sends = {row["date"]: (row["alone"], row["together"]) for row in impact["messages"]}
    # [email, sms]: the thank-you SMS a day after each purchase, the e-mail two days later;
    # with 购买欢迎 running too, its SMS at the moment of each purchase.
    assert sends["2026-11-02"] == ([0, 0], [0, 2])
    assert sends["2026-11-03"] == ([0, 2], [0, 3])
    assert sends["2026-11-04"] == ([0, 1], [0, 1])
    assert sends["2026-11-05"] == ([2, 0], [2, 0])
    assert sends["2026-11-06"] == ([1, 0], [1, 0])
    totals = {row["key"]: (row["alone"], row["together"]) for row in impact["totals"]}
    assert totals["messages"] == (6, 9) and totals["enrollments"] == (3, 6)
    assert impact["rules"] == ["购买后回访", "购买欢迎"]  # by name, not key
    assert impact["chart"]["dates"][0] == "11-02"
    # The chart's series follow the channels: e-mail, then SMS.
    assert [s["data"][:4] for s in impact["chart"]["together"]] == [[0, 0, 0, 2], [2, 3, 1, 0]]
    # The call tasks go to the service team: bob is its only agent (carol supervises).
    (service,) = impact["teams"]["teams"]
    assert service["name"] == "客服一组"
    tasks = {row["date"]: row["cells"][0] for row in impact["teams"]["rows"]}
    assert (tasks["2026-11-05"]["alone"], tasks["2026-11-05"]["together"]) == (2, 2)
    assert tasks["2026-11-05"]["capacity"] == 30 and not tasks["2026-11-05"]["together_over"]
    assert impact["over_cap"]["together"]["count"] == 0
    html = response.content.decode()
    assert 'id="preview-chart-data"' in html and 'data-chart="alone"' in html
    assert '<tr data-day="2026-11-03"><td class="text-nowrap">2026-11-03</td>' in html


def test_the_preview_changes_nothing(
    world: World, purchases: None, carol_client: Client, frozen: Any
) -> None:
    world.rule(WELCOME)
    rule = world.rule(AFTER_PURCHASE, active=False)
    models = (
        Rule,
        RuleVersion,
        RuleChange,
        Enrollment,
        DueStep,
        Message,
        Task,
        Event,
        TriggerCursor,
    )
    before = {model.__name__: model.objects.count() for model in models}
    statuses = dict(Rule.objects.values_list("key", "status"))

    assert result(carol_client, rule, days=14).status_code == 200

    assert {model.__name__: model.objects.count() for model in models} == before
    assert dict(Rule.objects.values_list("key", "status")) == statuses
    assert Rule.objects.get(pk=rule.pk).current_version is None


def test_over_capacity_days_and_customers_over_a_cap_are_shown(
    world: World, bob: Any, service_team: Team, carol_client: Client, frozen: Any
) -> None:
    bob.staff_profile.daily_capacity = 1
    bob.staff_profile.save()
    world.rule({**WELCOME, "policy": {"caps": [{"channel": "sms", "max": 1, "per_days": 7}]}})
    rule = world.rule(AFTER_PURCHASE, active=False)
    for name in ("甲", "乙"):
        world.event(world.customer(name), "purchase", at=local("2026-11-02 10:00"), amount=300)

    response = result(carol_client, rule, days=7)

    impact = response.context["impact"]
    assert impact["teams"]["over"] == 1  # two calls on the 5th, one agent who takes one a day
    html = response.content.decode()
    assert 'id="over-capacity"' in html and 'data-over="1"' in html
    # 购买欢迎's SMS and the thank-you SMS a day later: two in 7 days against its cap of one.
    together = impact["over_cap"]["together"]
    assert together["count"] == 2
    assert [c["count"] for c in together["customers"]] == [2, 2]
    assert together["customers"][0]["cap"] == {"channel": "sms", "max": 1, "per_days": 7}
    assert impact["over_cap"]["alone"]["count"] == 0  # no cap of its own, no default set


def test_the_days_are_7_14_or_30(world: World, carol_client: Client, frozen: Any) -> None:
    rule = world.rule(WELCOME, active=False)
    assert len(result(carol_client, rule, days=30).context["impact"]["dates"]) == 31
    # Anything else: the shortest period that shows the rule at work (a quick preview).
    assert result(carol_client, rule, days=999).context["days"] == 7


LATE = {
    "key": "late-check",
    "name": "到期前回访",
    "trigger": {"kind": "event", "event": "purchase", "delay": {"days": 10}},
    "steps": [
        {"id": "settle", "wait": {"days": 5}},
        {"id": "ask", "send": {"channel": "sms", "template": "thanks"}},
    ],
}


def test_the_first_period_shows_the_rule_at_work(
    world: World, carol_client: Client, frozen: Any
) -> None:
    """A rule that first sends 15 days after its trigger opens on 30 days; asked for 7, the
    figures say why nothing is sent yet instead of showing bare zeros."""
    quick, late = world.rule(WELCOME, active=False), world.rule(LATE, active=False)
    assert page(carol_client, quick).context["days"] == 7
    assert result(carol_client, quick).context["days"] == 7
    assert page(carol_client, late).context["days"] == 30
    assert 'id="preview-reach"' not in result(carol_client, late).content.decode()

    short = result(carol_client, late, days=7).content.decode()
    assert 'id="preview-reach"' in short
    assert "15 天" in short  # in the organisation's language, as the rest of the page


def test_activation_needs_a_comment(world: World, carol_client: Client) -> None:
    rule = world.rule(AFTER_PURCHASE, active=False)

    response = carol_client.post(
        reverse("rules:activate", args=[rule.key]), {"version": 1, "comment": "  "}
    )

    assert response.status_code == 400
    assert 'id="error-comment"' in response.content.decode()
    rule.refresh_from_db()
    assert (rule.status, rule.current_version) == (Rule.Status.DRAFT, None)
    assert not rule.changes.filter(action=RuleChange.Action.ACTIVATED).exists()


def test_with_a_version_running_the_in_flight_policy_must_be_chosen(
    world: World, carol_client: Client
) -> None:
    rule = world.rule(AFTER_PURCHASE)
    world.rule({**AFTER_PURCHASE, "name": "购买后回访（新）"}, active=False)

    page = carol_client.get(reverse("rules:preview", args=[rule.key]))
    assert 'name="in_flight" value="move"' in page.content.decode()
    response = carol_client.post(
        reverse("rules:activate", args=[rule.key]), {"version": 2, "comment": "新文案"}
    )

    assert response.status_code == 400
    assert 'id="error-in_flight"' in response.content.decode()
    rule.refresh_from_db()
    assert rule.current_version is not None and rule.current_version.number == 1


def test_activation_records_the_change_and_runs_the_new_version(
    world: World, carol: Any, carol_client: Client
) -> None:
    rule = world.rule(AFTER_PURCHASE)
    customer = world.customer()
    world.event(customer, "purchase", amount=300)
    world.run()
    plan = Enrollment.objects.get(rule=rule, customer=customer)
    world.rule({**AFTER_PURCHASE, "name": "购买后回访（新）"}, active=False)

    response = carol_client.post(
        reverse("rules:activate", args=[rule.key]),
        {"version": 2, "comment": "双十一新文案", "in_flight": "move"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.redirect_chain == [(reverse("rules:detail", args=[rule.key]), 302)]
    assert "Version 2 is running." in response.content.decode()
    rule.refresh_from_db()
    assert rule.status == Rule.Status.ACTIVE
    assert rule.current_version is not None and rule.current_version.number == 2
    change = rule.changes.get(action=RuleChange.Action.ACTIVATED, version=rule.current_version)
    assert (change.comment, change.in_flight, change.actor) == ("双十一新文案", "move", carol)
    plan.refresh_from_db()
    assert plan.version == rule.current_version  # moved on to the new version


def test_a_preview_made_before_a_newer_version_was_saved_cannot_activate_it(
    world: World, carol_client: Client
) -> None:
    rule = world.rule(AFTER_PURCHASE, active=False)
    world.rule({**AFTER_PURCHASE, "name": "购买后回访（新）"}, active=False)

    response = carol_client.post(
        reverse("rules:activate", args=[rule.key]), {"version": 1, "comment": "上线"}
    )

    assert response.status_code == 400
    assert 'id="error-version"' in response.content.decode()
    assert Rule.objects.get(pk=rule.pk).current_version is None


def test_the_running_version_can_be_previewed_but_not_activated_again(
    world: World, carol_client: Client
) -> None:
    rule = world.rule(WELCOME)
    page = carol_client.get(reverse("rules:preview", args=[rule.key]))
    assert page.status_code == 200 and b'id="activate-form"' not in page.content
    response = carol_client.post(
        reverse("rules:activate", args=[rule.key]), {"version": 1, "comment": "again"}
    )
    assert response.status_code == 400
    assert rule.changes.filter(action=RuleChange.Action.ACTIVATED).count() == 1


def test_agents_get_403_and_analysts_only_look(world: World, bob_client: Client) -> None:
    rule = world.rule(WELCOME, active=False)
    preview = reverse("rules:preview", args=[rule.key])
    activate = reverse("rules:activate", args=[rule.key])
    assert bob_client.get(preview).status_code == 403
    assert result(bob_client, rule).status_code == 403
    assert bob_client.post(activate, {"version": 1, "comment": "x"}).status_code == 403

    analyst = Client()
    analyst.force_login(make_staff("ann", Role.ANALYST))
    page = analyst.get(preview)
    assert page.status_code == 200 and b'id="activate-form"' not in page.content
    assert analyst.post(activate, {"version": 1, "comment": "x"}).status_code == 403
    assert (
        b'id="preview-activate"'
        not in analyst.get(reverse("rules:detail", args=[rule.key])).content
    )
    assert Rule.objects.get(pk=rule.pk).status == Rule.Status.DRAFT


def test_the_rule_page_links_to_the_preview(world: World, carol_client: Client) -> None:
    rule = world.rule(WELCOME, active=False)
    page = carol_client.get(reverse("rules:detail", args=[rule.key]))
    assert (
        f'href="{reverse("rules:preview", args=[rule.key])}" id="preview-activate"'
        in page.content.decode()
    )


def test_an_event_rule_is_estimated_from_the_recent_rate(
    world: World, carol_client: Client, frozen: Any
) -> None:
    """No purchase is stored for the coming days: the last week's three stand in for them,
    each a week later, and the page says so."""
    for name, at in (
        ("王小明", "2026-10-27 10:00"),
        ("李雷", "2026-10-30 15:00"),
        ("韩梅梅", "2026-11-01 11:00"),
    ):
        world.event(world.customer(name), "purchase", at=local(at), amount=300)
    world.event(world.customer("张伟"), "visit", at=local("2026-10-31 10:00"))
    rule = world.rule(AFTER_PURCHASE, active=False)
    response = result(carol_client, rule, days=7, version=1)
    impact = response.context["impact"]
    totals = {row["key"]: (row["alone"], row["together"]) for row in impact["totals"]}
    assert totals["enrollments"][0] == 3
    assert impact["projected"]["count"] == 3 and impact["projected"]["types"] == ["purchase"]
    sends = {row["date"]: row["alone"] for row in impact["messages"]}
    assert sends["2026-11-04"] == [0, 1]  # 王小明's purchase of 10-27, a week on, +1 day
    note = response.content.decode()
    assert "最近" in note and "3" in note and "购买" in note
    # Nothing was kept: the purchases are as they were.
    assert Event.objects.filter(type="purchase").count() == 3


def test_an_event_rule_without_recent_events_says_so(
    world: World, carol_client: Client, frozen: Any
) -> None:
    world.customer("王小明")
    rule = world.rule(AFTER_PURCHASE, active=False)
    response = result(carol_client, rule, days=7, version=1)
    assert response.context["impact"]["projected"]["count"] == 0
    assert "没有" in response.content.decode()


def test_activation_waits_for_the_preview(carol_client: Client, world: World) -> None:
    rule = world.rule(AFTER_PURCHASE, active=False)
    page = carol_client.get(reverse("rules:preview", args=[rule.key])).content.decode()
    button = page[page.index('id="activate"') - 100 : page.index('id="activate"') + 60]
    assert "disabled" in button


# The figures are simulated by a worker and kept ------------------------------------------


def latest_of(rule: Rule) -> RuleVersion:
    version = rule.latest_version()
    assert version is not None
    return version


def left(rule: Rule, status: str, minutes_ago: float) -> Preview:
    """A preview of the rule's 7 days a worker took (or was asked for) ``minutes_ago``."""
    asked = timezone.now() - timedelta(minutes=minutes_ago)
    return Preview.objects.create(
        version=latest_of(rule),
        days=7,
        status=status,
        requested_at=asked,
        start=asked + timedelta(minutes=1) if status == "running" else None,
    )


def test_the_worker_simulates_the_page_waits_then_shows_the_kept_figures(
    world: World,
    purchases: None,
    carol_client: Client,
    frozen: Any,
    django_assert_max_num_queries: Any,
) -> None:
    world.rule(WELCOME)
    rule = world.rule(AFTER_PURCHASE, active=False)
    url = reverse("rules:preview_result", args=[rule.key])

    with TestCase.captureOnCommitCallbacks() as queued:  # the worker has not come yet
        waiting = carol_client.get(url, {"days": 7}).content.decode()
    assert 'id="preview-progress"' in waiting and "等待后台任务" in waiting
    assert 'hx-trigger="every 1s"' in waiting  # the page asks again
    assert 'id="preview-result"' not in waiting  # so "Activate" stays shut
    (preview,) = Preview.objects.all()
    assert (preview.status, preview.days) == ("queued", 7)
    assert preview.requested_by is not None and preview.requested_by.username == "carol"

    # Asked again while it waits: the same preview, not a second one.
    assert 'id="preview-progress"' in carol_client.get(url, {"days": 7}).content.decode()
    assert Preview.objects.count() == 1

    # The worker starts and says how far it got; the page shows it.
    Preview.objects.filter(pk=preview.pk).update(status="running", start=timezone.now())
    HUEY.put(f"huifang:preview:{preview.pk}", (0.4, timezone.now()))
    running = carol_client.get(url, {"days": 7}).content.decode()
    assert 'aria-valuenow="40"' in running and "模拟未来 7 天" in running
    Preview.objects.filter(pk=preview.pk).update(status="queued", start=None)

    for callback in queued:
        callback()
    preview.refresh_from_db()
    assert preview.status == "done" and preview.customers == 3
    assert HUEY.get(f"huifang:preview:{preview.pk}", peek=True) is None  # progress forgotten

    with django_assert_max_num_queries(40):  # read, not simulated again
        shown = carol_client.get(url, {"days": 7})
    assert shown.context["impact"]["totals"][1]["together"] > 0
    assert 'id="preview-as-of"' in shown.content.decode()
    assert Preview.objects.count() == 1  # kept figures, nothing simulated again


def test_kept_figures_are_simulated_again_after_an_hour_or_when_the_active_rules_change(
    world: World, purchases: None, carol_client: Client, frozen: Any
) -> None:
    world.rule(WELCOME)
    rule = world.rule(AFTER_PURCHASE, active=False)
    result(carol_client, rule, days=7)
    first = Preview.objects.get()

    frozen.shift(timedelta(minutes=59))
    result(carol_client, rule, days=7)
    assert list(Preview.objects.values_list("pk", flat=True)) == [first.pk]

    frozen.shift(timedelta(minutes=2))
    later = result(carol_client, rule, days=7)
    second = Preview.objects.get()  # the stale one is replaced, not kept beside
    assert second.pk != first.pk and second.start == timezone.now()
    assert later.context["preview"].pk == second.pk

    Rule.objects.filter(key="welcome").update(status=Rule.Status.PAUSED)
    result(carol_client, rule, days=7)
    third = Preview.objects.get()
    assert third.pk != second.pk and third.others == []
    assert third.result is not None and third.result["together"]["rules"] == ["after-purchase"]


def test_a_worker_that_stops_is_given_up_and_the_page_offers_to_try_again(
    world: World, carol_client: Client, frozen: Any
) -> None:
    rule = world.rule(WELCOME, active=False)
    stopped = left(rule, "running", minutes_ago=12)  # silent for 11 minutes
    page = result(carol_client, rule, days=7).content.decode()
    stopped.refresh_from_db()
    assert stopped.status == "failed"
    assert 'id="preview-error"' in page and "后台任务在模拟完成前停止了" in page
    assert 'id="preview-result"' not in page  # Activate stays shut
    assert f'hx-post="{reverse("rules:preview_again", args=[rule.key])}"' in page

    with TestCase.captureOnCommitCallbacks(execute=True):
        again = carol_client.post(
            reverse("rules:preview_again", args=[rule.key]), {"days": 7, "version": 1}
        )
    assert again.status_code == 200
    latest = Preview.objects.first()
    assert latest is not None and latest.pk != stopped.pk
    assert result(carol_client, rule, days=7).context["impact"] is not None


def test_a_slow_worker_still_beating_is_waited_for(
    world: World, carol_client: Client, frozen: Any
) -> None:
    rule = world.rule(WELCOME, active=False)
    busy = left(rule, "running", minutes_ago=40)
    HUEY.put(f"huifang:preview:{busy.pk}", (0.9, timezone.now() - timedelta(seconds=3)))
    try:
        page = carol_client.get(
            reverse("rules:preview_result", args=[rule.key]), {"days": 7}
        ).content.decode()
    finally:
        HUEY.get(f"huifang:preview:{busy.pk}")
    busy.refresh_from_db()
    assert busy.status == "running" and 'aria-valuenow="90"' in page


def test_kept_figures_name_no_customer_and_show_in_the_readers_language(
    world: World, bob: Any, service_team: Team, carol_client: Client, frozen: Any
) -> None:
    """The figures are kept with customers' ids only: a name changed (or erased) since shows as
    it is now, and labels are in the language of whoever looks."""
    world.rule({**WELCOME, "policy": {"caps": [{"channel": "sms", "max": 1, "per_days": 7}]}})
    rule = world.rule(AFTER_PURCHASE, active=False)
    buyer = world.customer("王小明")
    world.event(buyer, "purchase", at=local("2026-11-02 10:00"), amount=300)

    shown = result(carol_client, rule, days=7)
    over = shown.context["impact"]["over_cap"]["together"]["customers"]
    assert [c["name"] for c in over] == ["王小明"]
    kept = Preview.objects.get().result
    assert "王小明" not in json.dumps(kept, ensure_ascii=False)

    Customer.objects.filter(pk=buyer.pk).update(name="王晓明")
    assert "王晓明" in result(carol_client, rule, days=7).content.decode()

    carol_client.cookies["django_language"] = "en"
    english = result(carol_client, rule, days=7).content.decode()
    assert "Messages sent" in english and "Simulated from" in english
    assert Preview.objects.count() == 1


def test_a_preview_long_in_the_queue_asks_whether_a_worker_runs(
    world: World, carol_client: Client, frozen: Any
) -> None:
    rule = world.rule(WELCOME, active=False)
    left(rule, "queued", minutes_ago=20 / 60)
    url = reverse("rules:preview_result", args=[rule.key])
    assert 'id="preview-unclaimed"' not in carol_client.get(url, {"days": 7}).content.decode()
    frozen.shift(timedelta(seconds=15))
    page = carol_client.get(url, {"days": 7}).content.decode()
    assert 'id="preview-unclaimed"' in page and "huifang worker" in page
