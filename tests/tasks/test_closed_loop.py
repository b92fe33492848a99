"""The closed loop (PRODUCT.md §4): an unhappy customer's low score opens an urgent task to put
it right; once that is done, a re-visit asks the customer whether it was; a happy answer ends
the loop, another low score starts it again."""

from __future__ import annotations

from typing import Any

import pytest

from huifang.accounts.models import Team
from huifang.customers.models import Customer
from huifang.tasks.models import Task
from huifang.tasks.outcomes import Report, record

from .helpers import agent, local, note_of, open_one

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

OPENED = local("2026-11-02 10:00")  # Monday


@pytest.fixture
def quality_team(service_team: Team) -> Team:
    quality = Team.objects.create(key="quality", name="品质组")
    service_team.remediation_team = quality
    service_team.save()
    return quality


@pytest.fixture
def quinn(quality_team: Team) -> Any:
    """The quality team's agent, who puts things right."""
    return agent("quinn", quality_team)


def test_a_low_score_is_put_right_and_then_checked_with_the_customer(
    service_team: Team, quality_team: Team, bob: Any, quinn: Any, customer: Customer
) -> None:
    task = open_one(customer, service_team, now=OPENED, title="回访 王小明")
    unhappy = record(
        task,
        Report(outcome="reached", score=2, notes="安装师傅迟到两小时"),
        actor=bob,
        now=local("2026-11-02 11:00"),
    )
    (remediation,) = unhappy.opened
    remediation.refresh_from_db()
    assert (remediation.kind, remediation.priority, remediation.parent) == (
        "remediation",
        "urgent",
        task,
    )
    assert (remediation.team, remediation.assignee) == (quality_team, quinn)
    assert remediation.title == "Put right: 王小明 scored 2"
    assert remediation.script == "安装师傅迟到两小时"
    # 24 working hours for an urgent task: Monday 7, Tuesday 9, Wednesday 8.
    assert remediation.due_at == local("2026-11-04 17:00")
    assert note_of(remediation).startswith("least loaded: Quinn")
    customer.refresh_from_db()
    assert customer.last_satisfaction == 2

    fixed = record(
        remediation,
        Report(outcome="reached", notes="已补偿并重新上门"),
        actor=quinn,
        now=local("2026-11-03 15:00"),
    )
    (revisit,) = fixed.opened
    revisit.refresh_from_db()
    assert (revisit.kind, revisit.parent, revisit.team, revisit.assignee) == (
        "revisit",
        remediation,
        service_team,
        bob,
    )
    assert revisit.title == "Re-visit 王小明: was it put right?"
    assert revisit.created_at == local("2026-11-03 15:00")
    # Three days to let it settle (to Friday 15:00), then 72 working hours for a high task.
    assert revisit.due_at == local("2026-11-18 15:00")

    happy = record(
        revisit, Report(outcome="reached", score=5), actor=bob, now=local("2026-11-09 10:00")
    )
    assert happy.opened == []
    assert Task.objects.filter(customer=customer).count() == 3
    assert list(task.children.all()) == [remediation]
    assert list(remediation.children.all()) == [revisit]
    customer.refresh_from_db()
    assert customer.last_satisfaction == 5


def test_without_a_remediation_team_the_same_team_puts_it_right(
    service_team: Team, bob: Any, customer: Customer
) -> None:
    task = open_one(customer, service_team, now=OPENED)
    (remediation,) = record(
        task, Report(outcome="reached", score=1), actor=bob, now=local("2026-11-02 11:00")
    ).opened
    assert (remediation.team, remediation.kind, remediation.priority) == (
        service_team,
        "remediation",
        "urgent",
    )


def test_a_low_score_on_the_revisit_starts_the_loop_again(
    service_team: Team, quality_team: Team, bob: Any, quinn: Any, customer: Customer
) -> None:
    task = open_one(customer, service_team, now=OPENED)
    (remediation,) = record(
        task, Report(outcome="reached", score=2), actor=bob, now=local("2026-11-02 11:00")
    ).opened
    (revisit,) = record(
        remediation, Report(outcome="reached"), actor=quinn, now=local("2026-11-03 11:00")
    ).opened
    (again,) = record(
        revisit, Report(outcome="reached", score=1), actor=bob, now=local("2026-11-09 11:00")
    ).opened
    assert (again.kind, again.team, again.parent) == ("remediation", quality_team, revisit)


def test_a_good_score_or_no_score_opens_nothing(
    service_team: Team, bob: Any, customer: Customer
) -> None:
    for report in (Report(outcome="reached", score=3), Report(outcome="reached")):
        task = open_one(customer, service_team, now=OPENED)
        assert record(task, report, actor=bob, now=local("2026-11-02 11:00")).opened == []
    assert not Task.objects.exclude(kind="follow_up").exists()


def test_a_remediation_that_did_not_reach_anyone_opens_no_revisit(
    service_team: Team, quality_team: Team, bob: Any, quinn: Any, customer: Customer
) -> None:
    task = open_one(customer, service_team, now=OPENED)
    (remediation,) = record(
        task, Report(outcome="reached", score=2), actor=bob, now=local("2026-11-02 11:00")
    ).opened
    recorded = record(
        remediation, Report(outcome="not_reached"), actor=quinn, now=local("2026-11-02 14:00")
    )
    assert recorded.opened == []
    assert not Task.objects.filter(kind="revisit").exists()
