"""The dispatcher end to end: the engine releases a message, the dispatcher renders it, hands it
to a real local provider and records what came back — retries, failures, rate limits, the last
look of the gate, and a send that crashed after the provider took it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from huifang.customers.models import Consent
from huifang.engine.runner import run_until_idle
from huifang.integrations.models import Provider
from huifang.messaging.dispatch import Dispatcher, backoff
from huifang.messaging.models import Attempt, Message, Reason
from huifang.messaging.services import save_template, send_to_staff
from tests.engine.world import World, local
from tests.integrations.fakes import JsonHandler, serve

pytestmark = pytest.mark.django_db

OPEN_ALL_DAY = {"start": "00:00", "end": "00:00"}


class Gateway(JsonHandler):
    """A webhook receiver whose answers the test sets: a list of (status, payload) to give in
    turn, the last one repeated."""

    answers: list[tuple[int, Any]] = [(200, {"id": "gw-1"})]
    received: list[dict[str, Any]] = []
    hold = threading.Event()  # set: answer at once; clear: keep the request hanging
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        with Gateway.lock:
            Gateway.received.append(body)
            status, payload = Gateway.answers[0]
            if len(Gateway.answers) > 1:
                Gateway.answers.pop(0)
        Gateway.hold.wait(30)
        self.answer(status, payload)


@pytest.fixture
def gateway(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    Gateway.answers = [(200, {"id": "gw-1"})]
    Gateway.received = []
    Gateway.hold.set()
    with serve(Gateway) as url:
        yield url
    Gateway.hold.set()


def webhook(url: str, *, channel: str = "sms", **fields: Any) -> Provider:
    provider = Provider(name="gateway", kind="webhook", channel=channel, **fields)
    provider.set_settings({"url": url, "secret": "0123456789abcdef-secret"})
    provider.save()
    return provider


def released(world: World, policy: dict[str, Any] | None = None) -> Message:
    """One SMS the engine has released (queued), for a customer who bought 台灯 on 11-02."""
    world.rule(
        {
            "key": "after-purchase",
            "name": "after purchase",
            "trigger": {"kind": "event", "event": "purchase"},
            "policy": {"quiet_hours": OPEN_ALL_DAY} if policy is None else policy,
            "steps": [{"id": "ask", "send": {"channel": "sms", "template": "purchase-3d"}}],
        }
    )
    person = world.customer("王芳")
    world.event(person, "purchase", product="台灯", order_id="A-1", amount=199)
    run_until_idle(world.clock)
    message = Message.objects.get(customer=person)
    assert message.status == Message.Status.QUEUED
    return message


def dispatch(world: World, **options: Any) -> int:
    return Dispatcher(world.clock, **options).run_until_idle()


def test_it_renders_the_current_template_and_sends_through_the_provider(
    world: World, gateway: str
) -> None:
    version = save_template(
        "purchase-3d", "sms", name="购后", body="{{客户姓名}}您好，{{产品名称}}用得还好吗？回TD退订"
    ).version
    provider = webhook(gateway)
    message = released(world)
    assert dispatch(world) == 1
    message.refresh_from_db()
    assert (message.status, message.provider_ref, message.transport) == ("sent", "gw-1", "webhook")
    assert message.body == "王芳您好，台灯用得还好吗？回TD退订"
    assert (message.template_version_id, message.provider_id) == (version.pk, provider.pk)
    assert message.sent_at == world.now
    assert [r["body"] for r in Gateway.received] == [message.body]
    assert message.customer is not None
    assert Gateway.received[0]["to"] == message.customer.phone
    attempt = Attempt.objects.get(message=message)
    assert (attempt.number, attempt.outcome, attempt.provider_id) == (1, "sent", provider.pk)


class Moved(JsonHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        Moved.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.answer(200, {"id": "moved-1"})


def test_a_worker_keeps_its_connections_between_batches_yet_follows_an_edited_provider(
    world: World, gateway: str
) -> None:
    provider = webhook(gateway)
    first = released(world)
    worker = Dispatcher(world.clock, keep=True)
    try:
        assert worker.run_once() == 1
        Moved.received = []
        with serve(Moved) as moved:
            provider.set_settings({"url": f"{moved}/hook", "secret": "0123456789abcdef-secret"})
            provider.save()
            later = world.customer("李雷")
            world.event(later, "purchase", product="台灯", order_id="A-2", amount=99)
            run_until_idle(world.clock)
            assert worker.run_once() == 1
    finally:
        worker.close()
    second = Message.objects.get(customer=later)
    first.refresh_from_db()
    assert (first.provider_ref, second.provider_ref) == ("gw-1", "moved-1")
    assert (len(Gateway.received), len(Moved.received)) == (1, 1)


def test_a_channel_without_provider_is_logged_not_sent(world: World) -> None:
    message = released(world)
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.transport, message.provider_id) == ("sent", "log", None)
    assert message.body == "王芳您好"


def test_a_message_without_template_is_dropped_with_the_reason(world: World) -> None:
    message = released(world)
    message.template = "nobody-wrote-this"
    message.save()
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.reason) == ("dropped", Reason.NO_TEMPLATE)
    assert message.decisions[-1]["action"] == "drop"


def test_transient_errors_retry_with_back_off_then_succeed(world: World, gateway: str) -> None:
    webhook(gateway)
    Gateway.answers = [(503, {}), (429, {}), (200, {"id": "third-time"})]
    message = released(world)
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.ready_at == world.now + backoff(1) == world.now + timedelta(seconds=30)
    assert "HTTP 503" in message.error
    dispatch(world)  # not yet: it waits for its back-off
    assert len(Gateway.received) == 1
    world.clock.advance(timedelta(seconds=30))
    dispatch(world)
    world.clock.advance(backoff(2))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.provider_ref) == ("sent", 3, "third-time")
    outcomes = list(Attempt.objects.filter(message=message).values_list("outcome", "code"))
    assert outcomes == [("transient", "503"), ("transient", "429"), ("sent", "")]


def test_transient_errors_fail_once_the_attempts_run_out(
    world: World, gateway: str, settings: Any
) -> None:
    settings.HUIFANG_DISPATCH_MAX_ATTEMPTS = 3
    webhook(gateway)
    Gateway.answers = [(503, {})]
    message = released(world)
    for _ in range(5):
        dispatch(world)
        world.clock.advance(timedelta(hours=6))
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", 3)
    assert len(Gateway.received) == 3


def test_a_permanent_error_fails_at_once_and_keeps_the_answer(world: World, gateway: str) -> None:
    webhook(gateway)
    Gateway.answers = [(422, {"error": "invalid number"})]
    message = released(world)
    dispatch(world)
    world.clock.advance(timedelta(days=1))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error) == ("failed", 1, "HTTP 422")
    attempt = Attempt.objects.get(message=message)
    assert (attempt.outcome, attempt.code) == ("permanent", "422")
    assert "invalid number" in attempt.answer
    assert len(Gateway.received) == 1


def test_a_send_that_crashed_after_the_provider_took_it_is_uncertain_and_never_resent(
    world: World, gateway: str
) -> None:
    webhook(gateway)
    message = released(world)
    crashed = Dispatcher(world.clock, lease=timedelta(seconds=60))
    claimed, jobs = crashed.claim("worker-that-dies")
    assert claimed == 1
    crashed.send(jobs)  # the provider has it; the worker dies before recording the answer
    assert len(Gateway.received) == 1
    message.refresh_from_db()
    assert message.status == "sending"
    dispatch(world)  # within the lease: left alone
    world.clock.advance(timedelta(seconds=61))
    dispatch(world)
    world.clock.advance(timedelta(days=2))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("uncertain", 1)
    assert len(Gateway.received) == 1  # never sent twice
    attempt = Attempt.objects.get(message=message)
    assert attempt.outcome == "uncertain"


def test_a_send_whose_answer_never_comes_is_uncertain_and_never_resent(
    world: World, gateway: str
) -> None:
    provider = webhook(gateway)
    provider.set_settings({"url": gateway, "secret": "0123456789abcdef-secret", "timeout": 0.5})
    provider.save()
    message = released(world)
    Gateway.hold.clear()  # the gateway takes the request and does not answer in time
    dispatch(world)
    Gateway.hold.set()
    world.clock.advance(timedelta(days=2))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("uncertain", 1)
    assert "no answer within 0.5 s" in message.error
    assert len(Gateway.received) == 1  # never sent twice
    assert Attempt.objects.get(message=message).outcome == "uncertain"


def test_an_unreachable_provider_is_tried_again_later(world: World, settings: Any) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    webhook("http://127.0.0.1:9/hook")  # nobody listens: nothing went out
    message = released(world)
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.ready_at == world.now + backoff(1)
    assert Attempt.objects.get(message=message).code == "network"


def test_a_slow_worker_that_does_record_its_answer_wins_over_uncertain(
    world: World, gateway: str
) -> None:
    webhook(gateway)
    message = released(world)
    slow = Dispatcher(world.clock, lease=timedelta(seconds=60))
    _claimed, jobs = slow.claim("slow-worker")
    outcomes = slow.send(jobs)
    world.clock.advance(timedelta(seconds=61))
    dispatch(world)  # another worker gives up on it
    slow.record(outcomes, "slow-worker")  # … but the answer arrives after all
    message.refresh_from_db()
    assert (message.status, message.provider_ref) == ("sent", "gw-1")
    assert len(Gateway.received) == 1


def test_consent_withdrawn_while_queued_drops_at_the_last_look(world: World) -> None:
    message = released(world)
    Consent.objects.filter(customer=message.customer, channel="sms").update(status="withdrawn")
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.reason) == ("dropped", Reason.NO_CONSENT)


def test_a_backlog_reaching_quiet_hours_waits_for_the_morning(world: World) -> None:
    message = released(world, policy={})  # the organisation's quiet hours, 21:00–08:00
    # The dispatcher was down from 10:00 until 21:30, the organisation's quiet hours (within
    # the rule's default misfire grace of 12 hours: 22:30 would be too late, ``missed``).
    world.clock.set(local("2026-11-02 21:30"))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.reason) == ("queued", Reason.QUIET_HOURS)
    assert message.ready_at == local("2026-11-03 08:00")
    world.clock.set(local("2026-11-03 08:00"))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.sent_at) == ("sent", local("2026-11-03 08:00"))


class Robot(JsonHandler):
    received: list[str] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        Robot.received.append(body["text"]["content"])
        self.answer(200, {"errcode": 0, "errmsg": "ok"})


def test_a_robot_takes_twenty_a_minute_and_the_rest_wait(world: World, settings: Any) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    Robot.received = []
    with serve(Robot) as url:
        robot = Provider(name="值班群", kind="dingtalk", channel="staff")
        robot.set_settings({"webhook_url": url + "/robot/send?access_token=t"})
        robot.save()
        for n in range(25):
            send_to_staff(robot, body=f"工单 {n} 超时", now=world.now)
        dispatch(world)
        assert len(Robot.received) == 20
        held = Message.objects.filter(status="queued")
        assert held.count() == 5
        assert {m.reason for m in held} == {Reason.RATE_LIMIT}
        assert {m.ready_at for m in held} == {world.now + timedelta(minutes=1)}
        world.clock.advance(timedelta(seconds=59))
        dispatch(world)
        assert len(Robot.received) == 20
        world.clock.advance(timedelta(seconds=2))  # the first sends took a few milliseconds
        dispatch(world)
    assert sorted(Robot.received) == sorted(f"工单 {n} 超时" for n in range(25))
    assert Message.objects.filter(status="sent").count() == 25


# -- the last look judges the misfire grace and the caps, as the engine's gate does ----------

ONE_MINUTE_GRACE = {"quiet_hours": OPEN_ALL_DAY, "misfire_grace": {"minutes": 1}}


def test_a_message_queued_before_the_dispatcher_stopped_is_missed_past_the_grace(
    world: World,
) -> None:
    message = released(world, policy=ONE_MINUTE_GRACE)
    world.clock.advance(timedelta(seconds=113))  # the dispatcher restarts 113 s later
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.reason, message.sent_at) == ("dropped", Reason.MISSED, None)
    assert message.decisions[-1] == {
        "at": world.now.isoformat(),
        "action": "drop",
        "reason": "missed",
        "by": "dispatch",
    }
    assert not Attempt.objects.exists()


def test_a_dispatcher_stalled_for_days_sends_none_of_its_backlog(world: World) -> None:
    message = released(world, policy={"quiet_hours": OPEN_ALL_DAY})  # default grace: 12 h
    world.clock.advance(timedelta(days=3))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.reason) == ("dropped", Reason.MISSED)


def test_within_the_grace_it_still_goes_late(world: World) -> None:
    message = released(world, policy=ONE_MINUTE_GRACE)
    world.clock.advance(timedelta(seconds=59))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.sent_at) == ("sent", world.now)


def test_the_grace_counts_from_the_end_of_a_hold_not_from_the_plan() -> None:
    world = World(local("2026-11-02 09:59:40"))
    policy = {"quiet_hours": {"start": "10:00", "end": "12:00"}, "misfire_grace": {"minutes": 1}}
    message = released(world, policy=policy)  # released at 09:59:40
    world.clock.set(local("2026-11-02 10:00:10"))  # 30 s late: quiet hours hold it until 12:00
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.reason) == ("queued", Reason.QUIET_HOURS)
    assert message.ready_at == local("2026-11-02 12:00")
    world.clock.set(local("2026-11-02 12:00:40"))  # 40 s after the hold ended: in time
    dispatch(world)
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_staff_message_has_no_grace(world: World) -> None:
    message = send_to_staff(None, body="工单超时", to="ops", now=world.now)  # the log transport
    world.clock.advance(timedelta(days=3))
    dispatch(world)
    message.refresh_from_db()
    assert message.status == "sent"


def backlog(world: World, count: int, policy: dict[str, Any]) -> list[Message]:
    """``count`` SMS queued for one customer while the dispatcher was down (released before an
    admin tightened the cap, or by several rules at once: the engine let them all through)."""
    first = released(world, policy=policy)
    copies = []
    for n in range(1, count):
        first.pk, first.source_key = None, f"copy:{n}"
        first.save(force_insert=True)
        copies.append(Message.objects.get(pk=first.pk))
    return [Message.objects.get(source_key__startswith="due:"), *copies]


def test_a_backlog_cannot_burst_past_a_cap(world: World) -> None:
    cap = {"channel": "sms", "max": 1, "per_days": 1}
    messages = backlog(world, 3, {"quiet_hours": OPEN_ALL_DAY, "caps": [cap]})
    world.clock.advance(timedelta(minutes=30))  # the dispatcher comes back
    dispatch(world)
    for message in messages:
        message.refresh_from_db()
    assert [m.status for m in messages] == ["sent", "queued", "queued"]
    sent_at = messages[0].sent_at
    assert sent_at is not None
    for held in messages[1:]:
        assert (held.reason, held.ready_at) == (Reason.CAP, sent_at + timedelta(days=1))
        assert held.decisions[-1]["action"] == "defer"
    # A day later the second goes; the third waits for the day after.
    world.clock.set(sent_at + timedelta(days=1))
    dispatch(world)
    assert [m.status for m in Message.objects.order_by("id")] == ["sent", "sent", "queued"]


def test_a_backlog_of_a_rule_that_drops_at_the_cap_drops_the_rest(world: World) -> None:
    cap = {"channel": "sms", "max": 1, "per_days": 1}
    policy = {"quiet_hours": OPEN_ALL_DAY, "caps": [cap], "on_cap": "drop"}
    backlog(world, 3, policy)
    dispatch(world)
    statuses = list(Message.objects.order_by("id").values_list("status", "reason"))
    assert statuses == [("sent", ""), ("dropped", Reason.CAP), ("dropped", Reason.CAP)]


def test_a_transactional_backlog_bypasses_the_cap(world: World) -> None:
    cap = {"channel": "sms", "max": 1, "per_days": 1}
    backlog(world, 3, {"quiet_hours": OPEN_ALL_DAY, "caps": [cap]})
    Message.objects.update(transactional=True)
    dispatch(world)
    assert set(Message.objects.values_list("status", flat=True)) == {"sent"}


# ``Message.changed_at`` is how the report rollups find a failure, a drop, a hold or an
# uncertain send days after the day it counts on (analytics/rollup.py): each statement of the
# dispatcher sets it, by the dispatcher's clock.


def test_a_hold_and_the_send_after_it_record_when(world: World, gateway: str) -> None:
    webhook(gateway)
    message = released(world, policy={})  # the organisation's quiet hours, 21:00–08:00
    assert message.changed_at is None  # written, never changed: found by its id
    world.clock.set(local("2026-11-02 21:30"))
    dispatch(world)
    message.refresh_from_db()
    assert (message.reason, message.changed_at) == (Reason.QUIET_HOURS, world.clock.now())
    world.clock.set(local("2026-11-03 08:00"))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.changed_at) == ("sent", world.clock.now())


def test_a_failure_records_when(world: World, gateway: str) -> None:
    webhook(gateway)
    Gateway.answers = [(422, {"error": "invalid number"})]
    message = released(world)
    world.clock.advance(timedelta(hours=2))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.changed_at) == ("failed", world.clock.now())


def test_a_drop_records_when(world: World) -> None:
    message = released(world)
    Consent.objects.filter(customer=message.customer, channel="sms").update(status="withdrawn")
    world.clock.advance(timedelta(hours=3))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.changed_at) == ("dropped", world.clock.now())


def test_an_uncertain_send_records_when(world: World, gateway: str) -> None:
    webhook(gateway)
    message = released(world)
    crashed = Dispatcher(world.clock, lease=timedelta(seconds=60))
    crashed.send(crashed.claim("worker-that-dies")[1])
    world.clock.advance(timedelta(minutes=5))
    dispatch(world)
    message.refresh_from_db()
    assert (message.status, message.changed_at) == ("uncertain", world.clock.now())
