"""Reminders and escalation: the timers a task gets when it is opened, what the worker's tick
does with them at their moment — the bell, a robot mention, an e-mail — and how they hold
for an agent who is off, stop when the task is done, and never fire twice."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from huifang.accounts.models import Notification, Team
from huifang.customers.models import Customer
from huifang.integrations.models import Provider
from huifang.messaging.models import Message
from huifang.tasks import outcomes
from huifang.tasks.models import Reminder, Task, TaskEvent
from huifang.tasks.reminders import tick

from .helpers import agent, local, open_one, pending, supervisor

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

MONDAY = local("2026-11-02 10:00")


@pytest.fixture
def team(service_team: Team, carol: Any) -> Team:
    """The service team: Mon–Fri 09:00–18:00 in Shanghai, 4 working hours to reach a normal
    customer, reminded 2 h before; carol supervises, escalation at 24 h and 48 h."""
    service_team.sla_hours = {"low": 120, "normal": 4, "high": 24, "urgent": 2}
    service_team.supervisor = carol
    service_team.save()
    return service_team


@pytest.fixture
def mia(carol: Any) -> Any:
    """carol's own manager."""
    manager = supervisor("mia", None)
    carol.staff_profile.supervisor = manager
    carol.staff_profile.save()
    return manager


@pytest.fixture
def task(team: Team, bob: Any, customer: Customer) -> Task:
    return open_one(customer, team, now=MONDAY, title="回访 王小明")


def bell(user: Any) -> list[Notification]:
    return list(Notification.objects.filter(recipient=user).order_by("pk"))


def fired(task: Task) -> list[tuple[str, str]]:
    done = Reminder.objects.filter(task=task).exclude(status=Reminder.Status.DUE)
    return sorted((r.kind, r.status) for r in done)


def test_opening_a_task_plans_its_timers(task: Task, bob: Any) -> None:
    assert task.due_at == local("2026-11-02 14:00")
    assert pending(task) == [
        ("assigned", MONDAY, bob.pk),
        ("due_soon", local("2026-11-02 12:00"), bob.pk),
        ("overdue", local("2026-11-02 14:00"), bob.pk),
        # 24 and 48 working hours after the task was opened, whoever has it then.
        ("escalate", local("2026-11-04 16:00"), None),
        ("escalate", local("2026-11-09 13:00"), None),
    ]
    levels = Reminder.objects.filter(task=task, kind=Reminder.Kind.ESCALATE)
    assert sorted(levels.values_list("level", flat=True)) == [1, 2]


def test_the_sla_warning_counts_working_hours_back_from_the_deadline(
    team: Team, bob: Any, customer: Customer
) -> None:
    """docs/tasks.md: reminded before the SLA ends, "默认 2 工作小时" (2 working hours)."""
    team.sla_hours = {"normal": 9}
    team.save()
    task = open_one(customer, team, now=MONDAY)
    assert task.due_at == local("2026-11-03 10:00")
    # Tuesday 09:00–10:00 is one working hour; Monday 17:00–18:00 the other.
    assert ("due_soon", local("2026-11-02 17:00"), bob.pk) in pending(task)


def test_escalation_counts_working_hours_across_a_weekend(
    team: Team, bob: Any, customer: Customer
) -> None:
    task = open_one(customer, team, now=local("2026-11-06 17:00"), priority="low")  # Friday
    levels = Reminder.objects.filter(task=task, kind=Reminder.Kind.ESCALATE).order_by("level")
    # Friday 1 h, Monday 9, Tuesday 9, Wednesday 5 → 24; Wednesday's last 4, Thursday 9,
    # Friday 9 and 2 on the next Monday → 48.
    assert [r.due_at for r in levels] == [local("2026-11-11 14:00"), local("2026-11-16 11:00")]


def test_each_timer_rings_the_bell_at_its_moment(task: Task, bob: Any) -> None:
    assert tick(MONDAY) == 1
    (new,) = bell(bob)
    assert "回访 王小明" in new.title
    assert new.url == reverse("tasks:detail", args=[task.pk])
    assert tick(local("2026-11-02 11:59")) == 0
    assert tick(local("2026-11-02 12:00")) == 1
    assert len(bell(bob)) == 2
    task.refresh_from_db()
    assert task.overdue_at is None

    assert tick(local("2026-11-02 14:00")) == 1
    task.refresh_from_db()
    assert task.overdue_at == local("2026-11-02 14:00")
    assert task.is_overdue(local("2026-11-02 14:01"))
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.OVERDUE).count() == 1
    assert len(bell(bob)) == 3
    assert fired(task) == [("assigned", "sent"), ("due_soon", "sent"), ("overdue", "sent")]
    reminded = TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.REMINDED)
    assert [e.data["reminder"] for e in reminded] == ["assigned", "due_soon", "overdue"]
    assert {e.data["to"] for e in reminded} == {bob.pk}


def test_two_ticks_never_send_the_same_reminder_twice(task: Task, bob: Any) -> None:
    late = local("2026-11-02 14:30")  # the worker was down: three timers are due at once
    assert tick(late) == 3
    assert tick(late) == 0
    assert tick(local("2026-11-02 15:00")) == 0
    assert len(bell(bob)) == 3
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.OVERDUE).count() == 1
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.REMINDED).count() == 3


# -- channels -----------------------------------------------------------------------------------


@pytest.fixture
def wecom_robot(db: None) -> Provider:
    robot = Provider(name="客服值班群", kind="wecom_robot", channel="staff")
    robot.set_settings(
        {"webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k-1", "timeout": 10}
    )
    robot.save()
    return robot


def test_a_robot_mention_is_queued_as_a_staff_message(
    team: Team, bob: Any, customer: Customer, wecom_robot: Provider
) -> None:
    bob.staff_profile.notify_channels = ["wecom"]
    bob.staff_profile.contact_ids = {"wecom_userid": "bob.wx"}
    bob.staff_profile.save()
    task = open_one(customer, team, now=MONDAY, title="回访 王小明")
    tick(MONDAY)
    (message,) = Message.objects.filter(provider_id=wecom_robot.pk)
    assert (message.status, message.to, message.customer_id) == ("queued", "bob.wx", None)
    assert "回访 王小明" in message.subject
    assert reverse("tasks:detail", args=[task.pk]) in message.body
    assert bell(bob) == []  # the bell was not among bob's channels


def test_a_robot_mentions_the_mobile_without_an_id(
    team: Team, bob: Any, customer: Customer, wecom_robot: Provider
) -> None:
    bob.staff_profile.notify_channels = ["wecom", "in_app"]
    bob.staff_profile.mobile = "13900001111"
    bob.staff_profile.save()
    open_one(customer, team, now=MONDAY)
    tick(MONDAY)
    assert Message.objects.get(provider_id=wecom_robot.pk).to == "13900001111"
    assert len(bell(bob)) == 1  # and the bell, as chosen


def test_a_channel_that_is_not_set_up_falls_back_to_the_bell(
    team: Team, bob: Any, customer: Customer
) -> None:
    bob.staff_profile.notify_channels = ["dingtalk"]  # no DingTalk robot configured
    bob.staff_profile.save()
    open_one(customer, team, now=MONDAY)
    tick(MONDAY)
    assert not Message.objects.exists()
    assert len(bell(bob)) == 1


def test_an_email_notification_goes_to_the_users_address(
    team: Team, bob: Any, customer: Customer
) -> None:
    mail = Provider.objects.create(name="SMTP", kind="email", channel="email")
    bob.staff_profile.notify_channels = ["email"]
    bob.staff_profile.save()
    open_one(customer, team, now=MONDAY)
    tick(MONDAY)
    message = Message.objects.get(provider_id=mail.pk)
    assert (message.to, message.status) == ("bob@example.com", "queued")
    assert bell(bob) == []


# -- working hours of the recipient -------------------------------------------------------------


@pytest.fixture
def evening_team(team: Team) -> Team:
    """Open every day until 23:00; its agents keep their own 09:00–18:00."""
    team.working_hours = {"days": [0, 1, 2, 3, 4, 5, 6], "start": "09:00", "end": "23:00"}
    team.sla_hours = {"normal": 3}
    team.escalation = []
    team.save()
    return team


def test_a_reminder_due_after_the_agents_hours_waits_for_their_next_morning(
    evening_team: Team, bob: Any, customer: Customer
) -> None:
    task = open_one(customer, evening_team, now=local("2026-11-02 19:00"))
    assert task.due_at == local("2026-11-02 22:00")
    assert tick(local("2026-11-02 22:00")) == 3  # assigned, due soon and overdue: all held
    assert bell(bob) == []
    task.refresh_from_db()
    assert task.overdue_at == local("2026-11-02 22:00")  # the task is late all the same
    morning = local("2026-11-03 09:00")
    assert {due for _kind, due, _to in pending(task)} == {morning}
    assert tick(local("2026-11-03 08:59")) == 0
    assert tick(morning) == 3
    assert len(bell(bob)) == 3
    assert TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.OVERDUE).count() == 1


def test_the_next_morning_is_in_the_agents_own_time_zone(
    evening_team: Team, bob: Any, customer: Customer
) -> None:
    bob.staff_profile.time_zone = "Asia/Tokyo"  # an hour ahead of Shanghai
    bob.staff_profile.save()
    task = open_one(customer, evening_team, now=local("2026-11-02 19:00"))
    tick(local("2026-11-02 22:00"))  # 23:00 in Tokyo
    assert {due for _kind, due, _to in pending(task)} == {local("2026-11-03 08:00")}  # 09:00 JST


def test_a_reminder_inside_the_agents_hours_is_not_held(
    evening_team: Team, bob: Any, customer: Customer
) -> None:
    bob.staff_profile.time_zone = "Europe/Berlin"  # 22:00 in Shanghai is 15:00 in Berlin
    bob.staff_profile.save()
    open_one(customer, evening_team, now=local("2026-11-02 19:00"))
    assert tick(local("2026-11-02 22:00")) == 3
    assert len(bell(bob)) == 3


# -- when the task moves on ---------------------------------------------------------------------


def test_nothing_more_is_sent_once_the_task_is_done(task: Task, bob: Any) -> None:
    tick(MONDAY)
    outcomes.record(
        task, outcomes.Report(outcome="reached", score=5), actor=bob, now=local("2026-11-02 11:00")
    )
    assert pending(task) == []
    assert tick(local("2026-11-20 12:00")) == 0
    assert len(bell(bob)) == 1
    assert not TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.OVERDUE).exists()


def test_a_task_closed_behind_the_timers_back_is_skipped_when_they_fire(
    task: Task, bob: Any, carol: Any
) -> None:
    Task.objects.filter(pk=task.pk).update(status=Task.Status.DONE)  # e.g. in the admin
    assert tick(local("2026-11-20 12:00")) == 5
    assert bell(bob) == bell(carol) == []
    assert set(Reminder.objects.filter(task=task).values_list("status", "note")) == {
        ("skipped", "closed")
    }


def test_a_reminder_for_someone_who_no_longer_has_the_task_is_skipped(
    task: Task, bob: Any, service_team: Team
) -> None:
    dave = agent("dave", service_team)
    Task.objects.filter(pk=task.pk).update(assignee=dave)  # e.g. in the admin
    assert tick(MONDAY) == 1
    assert bell(bob) == bell(dave) == []
    assert Reminder.objects.get(task=task, kind="assigned").note == "reassigned"


# -- escalation ---------------------------------------------------------------------------------


def test_escalation_tells_the_supervisor_then_the_manager(
    task: Task, bob: Any, carol: Any, mia: Any
) -> None:
    tick(local("2026-11-04 15:59"))
    assert bell(carol) == []
    tick(local("2026-11-04 16:00"))
    task.refresh_from_db()
    assert (task.escalation_level, task.escalated_at) == (1, local("2026-11-04 16:00"))
    assert task.assignee == bob  # told, not moved
    (level_one,) = bell(carol)
    assert "回访 王小明" in level_one.title
    assert bell(mia) == []

    tick(local("2026-11-09 13:00"))
    task.refresh_from_db()
    assert task.escalation_level == 2
    assert len(bell(mia)) == 1
    assert len(bell(carol)) == 1
    escalated = TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.ESCALATED)
    assert [e.data for e in escalated] == [
        {"level": 1, "to": carol.pk, "after_hours": 24},
        {"level": 2, "to": mia.pk, "after_hours": 48},
    ]


def test_escalation_stops_once_an_attempt_is_recorded(
    task: Task, bob: Any, carol: Any, mia: Any
) -> None:
    outcomes.record(
        task, outcomes.Report(outcome="not_reached"), actor=bob, now=local("2026-11-03 10:00")
    )
    tick(local("2026-11-10 12:00"))
    task.refresh_from_db()
    assert (task.escalation_level, task.escalated_at) == (0, None)
    assert bell(carol) == bell(mia) == []
    assert not TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.ESCALATED).exists()
    assert set(
        Reminder.objects.filter(task=task, kind="escalate").values_list("status", "note")
    ) == {("skipped", "handled")}


def test_an_escalation_level_can_hand_the_task_to_the_supervisor(
    team: Team, bob: Any, carol: Any, customer: Customer
) -> None:
    team.escalation = [{"after_hours": 24, "to": "supervisor", "reassign": True}]
    team.save()
    task = open_one(customer, team, now=MONDAY)
    moment = local("2026-11-04 16:00")
    tick(moment)
    task.refresh_from_db()
    assert task.assignee == carol
    assert task.assigned_at == moment
    (moved,) = TaskEvent.objects.filter(task=task, kind=TaskEvent.Kind.REASSIGNED)
    assert moved.data == {
        "from": bob.pk,
        "to": carol.pk,
        "reason": "Escalated: nothing done within 24 working hours",
    }
    # bob's timers were overdue and sent; carol has her own now.
    assert all(to == carol.pk for _kind, _due, to in pending(task))
    assert [kind for kind, _due, _to in pending(task)] == ["assigned", "overdue"]
    tick(moment)
    escalation, new, overdue = bell(carol)
    assert [n.url for n in (escalation, new, overdue)] == [f"/tasks/{task.pk}/"] * 3
    assert Reminder.objects.filter(task=task, recipient=carol, status="sent").count() == 3


def test_an_escalation_can_name_a_user(team: Team, bob: Any, customer: Customer) -> None:
    hotline = supervisor("hotline", None)
    team.escalation = [{"after_hours": 8, "to": "user:hotline"}]
    team.save()
    task = open_one(customer, team, now=MONDAY)
    tick(local("2026-11-03 09:00"))  # 8 working hours: Monday 10:00–18:00
    assert len(bell(hotline)) == 1
    task.refresh_from_db()
    assert task.escalation_level == 1


def test_an_escalation_to_a_supervisor_who_is_off_reaches_them_next_morning(
    team: Team, bob: Any, carol: Any, customer: Customer
) -> None:
    # Opened Monday at noon: 24 working hours end exactly at 18:00 on Wednesday, as carol
    # leaves. The worker's tick comes a few seconds later.
    task = open_one(customer, team, now=local("2026-11-02 12:00"))
    level_one = Reminder.objects.get(task=task, kind="escalate", level=1)
    assert level_one.due_at == local("2026-11-04 18:00")
    tick(local("2026-11-04 18:00:05"))
    assert bell(carol) == []  # off duty: held
    tick(local("2026-11-05 09:00"))
    assert len(bell(carol)) == 1
    level_one.refresh_from_db()
    assert level_one.status == Reminder.Status.SENT
