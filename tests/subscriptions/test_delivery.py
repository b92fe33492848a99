"""Deliveries to a real local receiver that checks the signature as docs/subscriptions.md
says: sent once, retried with back-off while the receiver is down, never sent by two workers,
and only to addresses the outbound guard allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import transaction

from huifang.customers.models import Customer
from huifang.subscriptions import delivery
from huifang.subscriptions.delivery import BACKOFF, MAX_ATTEMPTS, Deliverer
from huifang.subscriptions.models import Delivery
from huifang.subscriptions.tasks import purge_old
from huifang.tasks import outcomes
from huifang.tasks.services import create_tasks

from .conftest import WallClock, subscribe
from .receiver import inbox

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def complete_a_task(bob: Any, customer: Customer) -> int:
    (task,) = create_tasks([customer], title="购后回访", actor=bob, team=None, assignee=bob)
    outcomes.record(task, outcomes.Report(outcome="reached", score=5), actor=bob)
    return task.pk


def test_a_completed_task_is_delivered_once_signed(
    receiver: str, clock: WallClock, bob: Any, customer: Customer
) -> None:
    subscribe(receiver, "task.completed")
    task = complete_a_task(bob, customer)

    assert delivery.run_until_idle(clock) == 1
    assert delivery.run_until_idle(clock) == 0

    (request,) = inbox.requests
    assert request.verified and request.channel_verified and request.status == 200
    body = request.body
    assert body["type"] == "task.completed"
    assert request.headers["X-Huifang-Event"] == "task.completed"
    assert request.headers["X-Huifang-Event-Id"] == body["id"]
    assert body["data"]["task"]["id"] == task
    assert body["data"]["task"]["status"] == "done"
    assert body["data"]["task"]["outcome"] == "reached"
    assert body["data"]["task"]["assignee"] == "bob"
    # Contact details as the pages show them by default, never in full.
    assert body["data"]["customer"]["phone"] == "138****8000"
    assert "13800138000" not in str(request.body)
    row = Delivery.objects.get()
    assert (row.status, row.attempts, row.last_status) == ("delivered", 1, 200)
    assert str(row.event_id) == body["id"]


def test_a_receiver_down_three_times_gets_it_later_exactly_once(
    receiver: str, clock: WallClock, bob: Any, customer: Customer
) -> None:
    subscribe(receiver, "task.completed")
    inbox.failures = 3
    with time_machine.travel(START, tick=False) as traveller:
        complete_a_task(bob, customer)
        waits: list[timedelta] = []
        for attempt in (1, 2, 3):
            assert delivery.run_until_idle(clock) == 1
            row = Delivery.objects.get()
            assert (row.status, row.attempts, row.last_status) == ("failed", attempt, 503)
            assert row.next_attempt_at == START + sum(waits, timedelta()) + BACKOFF[attempt - 1]
            # Not due before its time: nothing is sent.
            traveller.shift(BACKOFF[attempt - 1] - timedelta(seconds=1))
            assert delivery.run_until_idle(clock) == 0
            traveller.shift(timedelta(seconds=1))
            waits.append(BACKOFF[attempt - 1])
        assert delivery.run_until_idle(clock) == 1
        for _later in range(3):
            traveller.shift(timedelta(days=1))
            assert delivery.run_until_idle(clock) == 0

    statuses = [r.status for r in inbox.requests]
    assert statuses == [503, 503, 503, 200]
    assert all(r.verified for r in inbox.requests)
    assert len({r.body["id"] for r in inbox.requests}) == 1  # one event, one id
    row = Delivery.objects.get()
    assert (row.status, row.attempts, row.last_status) == ("delivered", 4, 200)


@pytest.mark.parametrize("failures", [0, 1, 5, MAX_ATTEMPTS - 1])
def test_however_long_the_receiver_is_down_it_gets_the_event_once_when_it_recovers(
    receiver: str, clock: WallClock, bob: Any, customer: Customer, failures: int
) -> None:
    subscribe(receiver, "task.completed")
    inbox.failures = failures
    with time_machine.travel(START, tick=False) as traveller:
        complete_a_task(bob, customer)
        for _hour in range(80):  # beyond every back-off together
            delivery.run_until_idle(clock)
            traveller.shift(timedelta(hours=1))
    assert [r.status for r in inbox.requests] == [503] * failures + [200]
    assert Delivery.objects.get().status == "delivered"


def test_a_receiver_that_never_recovers_is_given_up(
    receiver: str, clock: WallClock, bob: Any, customer: Customer
) -> None:
    subscribe(receiver, "task.completed")
    inbox.failures = 100
    with time_machine.travel(START, tick=False) as traveller:
        complete_a_task(bob, customer)
        for _attempt in range(MAX_ATTEMPTS + 2):
            delivery.run_until_idle(clock)
            traveller.shift(timedelta(days=1))
    row = Delivery.objects.get()
    assert row.status == "given_up"
    assert row.next_attempt_at is None
    assert len(inbox.requests) == row.attempts <= MAX_ATTEMPTS


def test_two_workers_never_hold_the_same_delivery(
    receiver: str, clock: WallClock, bob: Any, customer: Customer
) -> None:
    subscribe(receiver, "task.completed")
    subscribe(receiver, "task.completed", name="工单系统")
    complete_a_task(bob, customer)
    first, second = Deliverer(clock), Deliverer(clock)
    mine = first.claim("worker-1")
    theirs = second.claim("worker-2")
    assert len(mine) == 2 and theirs == []
    for row in mine:
        assert first.record(row, delivery.send(row), "worker-1")
    assert second.run_once() == 0
    assert len(inbox.accepted) == 2


def test_a_lost_lease_is_taken_back_and_the_late_answer_ignored(
    receiver: str, clock: WallClock, bob: Any, customer: Customer
) -> None:
    subscribe(receiver, "task.completed")
    with time_machine.travel(START, tick=False) as traveller:
        complete_a_task(bob, customer)
        stalled = Deliverer(clock)
        (row,) = stalled.claim("stalled")
        traveller.shift(delivery.LEASE + timedelta(seconds=1))
        assert Deliverer(clock).run_once() == 1  # takes it back, and delivers it
        # The stalled worker wakes up: its answer is not recorded over the other's.
        assert not stalled.record(row, delivery.Result(False, 500, "", "HTTP 500"), "stalled")
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("delivered", 2)
    assert len(inbox.accepted) == 1


def test_a_private_address_is_refused_unless_allowed(
    receiver: str, clock: WallClock, bob: Any, customer: Customer, settings: Any
) -> None:
    subscribe(receiver, "task.completed")
    settings.HUIFANG_OUTBOUND_ALLOW = []
    complete_a_task(bob, customer)
    assert delivery.run_until_idle(clock) == 1
    row = Delivery.objects.get()
    assert row.status == "failed"
    assert "127.0.0.1" in row.last_error and "OUTBOUND_HTTP_ALLOW" in row.last_error
    assert inbox.requests == []

    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    Delivery.objects.update(next_attempt_at=row.created_at)
    assert delivery.run_until_idle(clock) == 1
    assert inbox.events() == ["task.completed"]


def test_nothing_goes_to_a_paused_subscription_or_for_events_it_did_not_choose(
    receiver: str, clock: WallClock, bob: Any, customer: Customer
) -> None:
    paused = subscribe(receiver, "task.completed", name="暂停")
    paused.active = False
    paused.save()
    subscribe(receiver, "message.delivered", name="只要送达")
    complete_a_task(bob, customer)
    assert Delivery.objects.count() == 0


def test_a_change_rolled_back_leaves_no_delivery(
    receiver: str, bob: Any, customer: Customer
) -> None:
    subscribe(receiver, "task.created")
    with pytest.raises(RuntimeError), transaction.atomic():
        create_tasks([customer], title="回访", actor=bob, team=None)
        assert Delivery.objects.count() == 1
        raise RuntimeError("the request failed after the task was written")
    assert Delivery.objects.count() == 0


def test_the_log_keeps_finished_deliveries_for_90_days(
    receiver: str, clock: WallClock, bob: Any, customer: Customer
) -> None:
    subscribe(receiver, "task.completed")
    with time_machine.travel(START, tick=False) as traveller:
        complete_a_task(bob, customer)
        delivery.run_until_idle(clock)
        traveller.shift(timedelta(days=89))
        assert purge_old() == 0
        traveller.shift(timedelta(days=2))
        waiting = complete_a_task(bob, customer)  # not sent yet: never purged
        assert purge_old() == 1
    assert Delivery.objects.get().payload["task"]["id"] == waiting
