"""Recording what happened on a follow-up: each outcome's effect on the task, the customer's
timeline, their consent and pending messages; the next actions an agent ticks; and reports
that do not hold together, which are refused with nothing written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from huifang.accounts.models import Notification, Team
from huifang.customers.models import Consent, ContactPoint, Customer, Event
from huifang.engine.models import Enrollment
from huifang.messaging.models import Message
from huifang.tasks.models import Reminder, Task, TaskEvent
from huifang.tasks.outcomes import Report, record
from huifang.tasks.reminders import tick
from tests.engine.world import World

from .helpers import local, open_one, pending

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

OPENED = local("2026-11-02 10:00")  # Monday
CALL = local("2026-11-02 11:00")  # when bob calls


@pytest.fixture
def task(service_team: Team, bob: Any, customer: Customer) -> Task:
    return open_one(customer, service_team, now=OPENED, title="回访 王小明")


def timeline(customer: Customer, *types: str) -> list[Event]:
    return list(Event.objects.filter(customer=customer, type__in=types).order_by("pk"))


def history(task: Task, kind: str) -> list[TaskEvent]:
    return list(TaskEvent.objects.filter(task=task, kind=kind))


def footprint(task: Task) -> tuple[Any, ...]:
    """Everything a recorded outcome could write."""
    row: dict[str, Any] = dict(Task.objects.filter(pk=task.pk).values().get())
    row.pop("updated_at")
    return (
        row,
        Task.objects.count(),
        TaskEvent.objects.count(),
        Event.objects.count(),
        list(Reminder.objects.order_by("pk").values_list("kind", "status", "due_at")),
        list(Consent.objects.order_by("pk").values_list("channel", "status")),
        list(Message.objects.order_by("pk").values_list("status", flat=True)),
        Customer.objects.filter(pk=task.customer_id).values_list("do_not_contact", flat=True)[0],
    )


def queued(customer: Customer, channel: str, status: str = "queued") -> Message:
    return Message.objects.create(
        customer=customer,
        channel=channel,
        template="回访",
        status=status,
        planned_at=OPENED,
        created_at=OPENED,
    )


def consent(customer: Customer, *channels: str) -> None:
    for channel in channels:
        Consent.objects.create(
            customer=customer,
            channel=channel,
            status=Consent.Status.GRANTED,
            recorded_at=OPENED,
            method=Consent.Method.IMPORT,
        )


# -- outcomes -----------------------------------------------------------------------------------


def test_reached_closes_the_task_with_the_score(task: Task, bob: Any, customer: Customer) -> None:
    recorded = record(
        task,
        Report(outcome="reached", score=4, notes="满意，提了安装建议", tags=["安装"]),
        actor=bob,
        now=CALL,
    )
    assert recorded.opened == []
    task.refresh_from_db()
    assert (task.status, task.outcome, task.score, task.closed_at) == ("done", "reached", 4, CALL)
    assert (task.attempts, task.notes, task.tags) == (1, "满意，提了安装建议", ["安装"])
    (outcome,) = history(task, TaskEvent.Kind.OUTCOME)
    assert (outcome.actor, outcome.at) == (bob, CALL)
    assert outcome.data["outcome"] == "reached"
    assert outcome.data["score"] == 4
    (event,) = timeline(customer, "followup_reached")
    assert recorded.event == event
    assert (event.score, event.occurred_at, event.source) == (4, CALL, "staff")
    assert event.properties["task"] == task.pk
    assert event.properties["agent"] == "bob"
    customer.refresh_from_db()
    assert customer.last_satisfaction == 4
    assert customer.last_contact_at == CALL  # a conversation counts as contact
    assert pending(task) == []  # no reminder or escalation for a done task


def test_not_reached_counts_an_attempt_and_keeps_the_task_open(
    task: Task, bob: Any, customer: Customer
) -> None:
    record(task, Report(outcome="not_reached", notes="无人接听"), actor=bob, now=CALL)
    task.refresh_from_db()
    assert (task.status, task.attempts, task.started_at, task.closed_at) == (
        "in_progress",
        1,
        CALL,
        None,
    )
    later = local("2026-11-02 15:00")
    record(task, Report(outcome="not_reached"), actor=bob, now=later)
    task.refresh_from_db()
    assert (task.status, task.attempts, task.started_at) == ("in_progress", 2, CALL)
    assert len(timeline(customer, "followup_not_reached")) == 2
    assert [e.data["outcome"] for e in history(task, TaskEvent.Kind.OUTCOME)] == [
        "not_reached",
        "not_reached",
    ]


def test_recording_an_attempt_does_not_announce_the_task_as_new_again(task: Task, bob: Any) -> None:
    tick(OPENED)
    assert Notification.objects.filter(recipient=bob).count() == 1  # "new follow-up"
    record(task, Report(outcome="not_reached"), actor=bob, now=CALL)
    tick(CALL)
    assert Notification.objects.filter(recipient=bob).count() == 1
    assert not Reminder.objects.filter(task=task, kind="assigned", due_at=CALL).exists()


def test_call_back_moves_the_deadline_and_sets_a_timer(
    task: Task, bob: Any, customer: Customer
) -> None:
    at = local("2026-11-03 15:30")
    record(task, Report(outcome="call_back", score=3, call_back_at=at), actor=bob, now=CALL)
    task.refresh_from_db()
    assert (task.status, task.due_at, task.overdue_at, task.attempts) == ("open", at, None, 1)
    (rescheduled,) = history(task, TaskEvent.Kind.RESCHEDULED)
    assert datetime.fromisoformat(rescheduled.data["due_at"]) == at
    assert Reminder.objects.filter(
        task=task, kind="call_back", due_at=at, recipient=bob, status="due"
    ).exists()
    assert ("overdue", local("2026-11-02 14:00"), bob.pk) not in pending(task)  # old deadline
    (event,) = timeline(customer, "followup_call_back")
    assert event.score == 3
    assert tick(at) >= 1
    assert Reminder.objects.get(task=task, kind="call_back").status == "sent"


def test_a_call_back_in_the_past_is_refused_with_nothing_written(task: Task, bob: Any) -> None:
    before = footprint(task)
    for when in (CALL, local("2026-11-02 10:30"), None):
        with pytest.raises(ValidationError) as refused:
            record(task, Report(outcome="call_back", call_back_at=when), actor=bob, now=CALL)
        assert "call_back_at" in refused.value.message_dict
    assert footprint(task) == before


def test_wrong_number_flags_the_phone_and_stops_sms(
    task: Task, bob: Any, customer: Customer
) -> None:
    consent(customer, "sms", "phone", "email")
    sms, held, mail = (
        queued(customer, "sms"),
        queued(customer, "sms", "deferred"),
        queued(customer, "email"),
    )
    record(task, Report(outcome="wrong_number", notes="对方说不认识"), actor=bob, now=CALL)
    task.refresh_from_db()
    assert (task.status, task.outcome) == ("done", "wrong_number")
    point = ContactPoint.objects.get(customer=customer, kind="phone")
    assert (point.value, point.invalid_at) == ("+8613800138000", CALL)
    consents = {c.channel: c for c in Consent.objects.filter(customer=customer)}
    assert {k: c.status for k, c in consents.items()} == {
        "sms": "withdrawn",
        "phone": "withdrawn",
        "email": "granted",
    }
    assert f"task #{task.pk}" in consents["sms"].evidence
    assert consents["sms"].recorded_by == bob
    for message in (sms, held, mail):
        message.refresh_from_db()
    assert (sms.status, held.status, mail.status) == ("cancelled", "cancelled", "queued")
    assert sms.reason == "unsubscribed"
    assert len(timeline(customer, "followup_wrong_number")) == 1
    customer.refresh_from_db()
    assert customer.do_not_contact is False


def test_refused_puts_the_customer_on_the_do_not_contact_list(
    task: Task, bob: Any, customer: Customer
) -> None:
    consent(customer, "sms", "email")
    sms, mail = queued(customer, "sms"), queued(customer, "email")
    record(task, Report(outcome="refused", notes="不要再打电话了"), actor=bob, now=CALL)
    customer.refresh_from_db()
    assert (customer.do_not_contact, customer.do_not_contact_at) == (True, CALL)
    assert "不要再打电话了" in customer.do_not_contact_reason
    assert f"task #{task.pk}" in customer.do_not_contact_reason
    statuses = dict(Consent.objects.filter(customer=customer).values_list("channel", "status"))
    assert statuses == dict.fromkeys(("sms", "email", "wecom", "phone"), "withdrawn")
    for message in (sms, mail):
        message.refresh_from_db()
        assert message.status == "cancelled"
    task.refresh_from_db()
    assert (task.status, task.outcome) == ("done", "refused")
    assert len(timeline(customer, "followup_refused")) == 1


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (Report(outcome="reached", score=0), "score"),
        (Report(outcome="reached", score=6), "score"),
        (Report(outcome="not_reached", score=3), "score"),
        (Report(outcome="wrong_number", score=1), "score"),
        (Report(outcome="hung_up"), "outcome"),
        (Report(outcome="reached", tags=[" "]), "tags"),
        (Report(outcome="reached", actions=["revisit"]), "revisit_at"),
        (Report(outcome="reached", actions=["rule"]), "rule"),
    ],
)
def test_a_report_that_does_not_hold_together_writes_nothing(
    task: Task, bob: Any, report: Report, field: str
) -> None:
    before = footprint(task)
    with pytest.raises(ValidationError) as refused:
        record(task, report, actor=bob, now=CALL)
    assert field in refused.value.message_dict
    assert footprint(task) == before


def test_a_closed_task_takes_no_more_outcomes(task: Task, bob: Any) -> None:
    record(task, Report(outcome="reached", score=5), actor=bob, now=CALL)
    before = footprint(task)
    with pytest.raises(ValidationError, match="closed already"):
        record(task, Report(outcome="not_reached"), actor=bob, now=local("2026-11-02 12:00"))
    assert footprint(task) == before


# -- next actions -------------------------------------------------------------------------------


def test_a_ticket_and_a_sales_opportunity_go_on_the_timeline(
    task: Task, bob: Any, customer: Customer
) -> None:
    record(
        task,
        Report(outcome="reached", score=4, notes="想加购滤芯", actions=["ticket", "opportunity"]),
        actor=bob,
        now=CALL,
    )
    (ticket,) = timeline(customer, "ticket_requested")
    (sale,) = timeline(customer, "sales_opportunity")
    for event in (ticket, sale):
        assert event.properties == {"task": task.pk, "notes": "想加购滤芯", "agent": "bob"}
        assert event.occurred_at == CALL


def test_a_revisit_is_opened_at_the_chosen_time(
    task: Task, bob: Any, customer: Customer, service_team: Team
) -> None:
    when = local("2026-11-16 10:00")
    recorded = record(
        task,
        Report(outcome="reached", score=4, actions=["revisit"], revisit_at=when),
        actor=bob,
        now=CALL,
    )
    (revisit,) = recorded.opened
    assert (revisit.kind, revisit.parent, revisit.customer, revisit.team) == (
        "revisit",
        task,
        customer,
        service_team,
    )
    assert revisit.due_at == when
    assert revisit.assignee == bob
    assert revisit.title == "Re-visit 王小明"


def test_a_revisit_in_the_past_is_refused(task: Task, bob: Any) -> None:
    before = footprint(task)
    with pytest.raises(ValidationError) as refused:
        record(
            task,
            Report(outcome="reached", actions=["revisit"], revisit_at=local("2026-11-01 10:00")),
            actor=bob,
            now=CALL,
        )
    assert "revisit_at" in refused.value.message_dict
    assert footprint(task) == before


def care_rule(world: World, *, active: bool) -> Any:
    return world.rule(
        {
            "key": "care-after-call",
            "name": "回访后关怀",
            "trigger": {"kind": "event", "event": "ticket_opened"},
            "steps": [{"id": "thanks", "send": {"channel": "sms", "template": "care-thanks"}}],
        },
        active=active,
    )


def test_a_rule_can_be_started_for_the_customer(task: Task, bob: Any, customer: Customer) -> None:
    rule = care_rule(World(OPENED), active=True)
    record(task, Report(outcome="reached", actions=["rule"], rule=rule), actor=bob, now=CALL)
    enrollment = Enrollment.objects.get(rule=rule, customer=customer)
    assert enrollment.anchor == f"task:{task.pk}"
    assert enrollment.status == Enrollment.Status.ACTIVE


def test_a_rule_that_is_not_active_is_refused(task: Task, bob: Any) -> None:
    rule = care_rule(World(OPENED), active=False)
    before = footprint(task)
    with pytest.raises(ValidationError) as refused:
        record(task, Report(outcome="reached", actions=["rule"], rule=rule), actor=bob, now=CALL)
    assert refused.value.message_dict["rule"] == ["That rule is not active."]
    assert footprint(task) == before
    assert not Enrollment.objects.exists()
