"""What comes back from providers: delivery receipts and replies, POSTed in each provider's own
format to the callback URLs the channels page shows, for messages the real dispatcher sent
through local servers that answer like Aliyun and Tencent Cloud."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine
from django.test import Client

from huifang.customers.models import Consent, Customer, Event
from huifang.engine.models import Enrollment
from huifang.engine.runner import run_until_idle
from huifang.integrations import callbacks
from huifang.integrations.models import Provider
from huifang.integrations.sms_aliyun.inbound import callback_urls as aliyun_urls
from huifang.integrations.sms_tencent.inbound import callback_urls as tencent_urls
from huifang.messaging.dispatch import Dispatcher
from huifang.messaging.models import Message
from huifang.messaging.services import save_template
from huifang.tasks.models import Task
from tests.engine.world import World, local
from tests.integrations.fakes import JsonHandler, serve

pytestmark = pytest.mark.django_db

_ids = itertools.count(1)


class Aliyun(JsonHandler):
    """Answers ``SendSms`` as Aliyun does, with a new ``BizId`` each time."""

    received: list[dict[str, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        Aliyun.received.append(dict(parse_qsl(body)))
        self.answer(200, {"Code": "OK", "Message": "OK", "BizId": f"90061{next(_ids)}^0"})


class Tencent(JsonHandler):
    """Answers ``SendSms`` in API 3.0's shape, with a new ``SerialNo`` each time."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        status = {"SerialNo": f"2640:{next(_ids)}", "Code": "Ok", "Message": "send success"}
        self.answer(200, {"Response": {"SendStatusSet": [status], "RequestId": "r-1"}})


@pytest.fixture
def world(settings: Any) -> World:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    return World(local("2026-11-02 10:00"))


@pytest.fixture
def aliyun(world: World) -> Iterator[Provider]:
    Aliyun.received = []
    with serve(Aliyun) as url:
        provider = Provider(name="阿里云短信", kind="sms_aliyun", channel="sms")
        provider.set_settings(
            {"access_key_id": "LTAI-test", "access_key_secret": "s", "endpoint": url + "/"}
        )
        provider.save()
        yield provider


@pytest.fixture
def tencent(world: World) -> Iterator[Provider]:
    with serve(Tencent) as url:
        provider = Provider(name="腾讯云短信", kind="sms_tencent", channel="sms")
        provider.set_settings(
            {"secret_id": "AKID", "secret_key": "k", "sdk_app_id": "1400", "endpoint": url + "/"}
        )
        provider.save()
        yield provider


def asks_and_waits(world: World) -> Customer:
    """A rule whose first SMS waits three days for a reply (``on_reply: stop``) before a second
    one; 王芳 buys, and the first SMS goes out through the configured provider."""
    save_template(
        "ask",
        "sms",
        name="回访",
        body="{{客户姓名}}您好，用得还好吗？",
        provider_template_code="SMS_1",
    )
    world.rule(
        {
            "key": "ask-then-ask-again",
            "name": "ask, then ask again",
            "trigger": {"kind": "event", "event": "purchase"},
            "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
            "steps": [
                {
                    "id": "first",
                    "send": {"channel": "sms", "template": "ask"},
                    "wait_reply": {"days": 3},
                    "on_reply": "stop",
                },
                {"id": "second", "send": {"channel": "sms", "template": "ask"}},
            ],
        }
    )
    customer = world.customer("王芳", phone="+8613800138000")
    world.event(customer, "purchase", amount=800)
    world.run()
    return customer


def only_message(customer: Customer) -> Message:
    return Message.objects.get(customer=customer)


def push(world: World, url: str, payload: Any, **extra: Any) -> Any:
    """POST ``payload`` as the provider does, a minute after the world's now."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False)
    with time_machine.travel(world.now + timedelta(minutes=1), tick=False):
        return Client().post(
            urlsplit(url).path, data=body, content_type="application/json", **extra
        )


def aliyun_report(message: Message, *, success: bool = True, **fields: Any) -> dict[str, Any]:
    return {
        "phone_number": "13800138000",
        "send_time": "2026-11-02 10:00:01",
        "report_time": "2026-11-02 10:00:09",
        "success": success,
        "err_code": "DELIVERED" if success else "MK:0001",
        "err_msg": "用户接收成功" if success else "空号",
        "sms_size": "1",
        "biz_id": message.provider_ref,
        "out_id": f"hf{message.pk}",
        **fields,
    }


def tencent_report(message: Message, status: str = "SUCCESS") -> dict[str, Any]:
    return {
        "user_receive_time": "2026-11-02 10:00:09",
        "nationcode": "86",
        "mobile": "13800138000",
        "report_status": status,
        "errmsg": "DELIVRD" if status == "SUCCESS" else "MN:0001",
        "description": "用户短信送达成功" if status == "SUCCESS" else "空号",
        "sid": message.provider_ref,
    }


def aliyun_reply(text: str, sequence_id: int = 1234567890) -> dict[str, Any]:
    return {
        "phone_number": "13800138000",
        "send_time": "2026-11-02 10:20:00",
        "content": text,
        "sign_name": "回访中心",
        "dest_code": "1234",
        "sequence_id": sequence_id,
    }


def tencent_reply(text: str) -> dict[str, Any]:
    moment = int(local("2026-11-02 10:20").timestamp())
    return {"extend": "", "mobile": "13800138000", "nationcode": "86", "sign": "回访中心",
            "text": text, "time": moment}  # fmt: skip


# -- delivery receipts ---------------------------------------------------------------------------


def test_an_aliyun_receipt_marks_the_message_delivered(world: World, aliyun: Provider) -> None:
    message = only_message(asks_and_waits(world))
    assert message.status == "sent"
    assert Aliyun.received[0]["OutId"] == f"hf{message.pk}"  # echoed in the receipt
    answer = push(world, aliyun_urls(aliyun)["report"], [aliyun_report(message)])
    assert (answer.status_code, answer.json()) == (200, {"code": 0, "msg": "成功"})
    message.refresh_from_db()
    assert (message.status, message.delivered_at) == ("delivered", local("2026-11-02 10:00:09"))
    assert message.changed_at == world.now + timedelta(minutes=1)  # recorded, not reported


def test_an_aliyun_failure_report_fails_the_message_with_the_carriers_code(
    world: World, aliyun: Provider
) -> None:
    message = only_message(asks_and_waits(world))
    push(world, aliyun_urls(aliyun)["report"], [aliyun_report(message, success=False)])
    message.refresh_from_db()
    assert (message.status, message.error, message.delivered_at) == ("failed", "MK:0001 空号", None)
    # A failure has no time of its own: the row says when it changed (the report rollups
    # find the day it counts on by that).
    assert message.changed_at == world.now + timedelta(minutes=1)


@pytest.mark.parametrize(("status", "expected"), [("SUCCESS", "delivered"), ("FAIL", "failed")])
def test_a_tencent_receipt_settles_the_message(
    world: World, tencent: Provider, status: str, expected: str
) -> None:
    message = only_message(asks_and_waits(world))
    answer = push(world, tencent_urls(tencent)["report"], [tencent_report(message, status)])
    assert (answer.status_code, answer.json()) == (200, {"result": 0, "errmsg": "OK"})
    message.refresh_from_db()
    assert message.status == expected
    assert message.error == ("" if status == "SUCCESS" else "MN:0001 空号")


def test_a_receipt_proves_an_uncertain_message_went_out(world: World, aliyun: Provider) -> None:
    asks_and_waits(world)  # the first message; the test is about a second customer's
    customer = world.customer("李雷", phone="+8613900139000")
    world.event(customer, "purchase", amount=900)
    run_until_idle(world.clock)
    crashed = Dispatcher(world.clock, lease=timedelta(seconds=60))
    _claimed, jobs = crashed.claim("worker-that-dies")
    crashed.send(jobs)  # Aliyun has it; the worker dies before recording the BizId
    world.clock.advance(timedelta(seconds=61))
    Dispatcher(world.clock).run_until_idle()
    message = only_message(customer)
    assert (message.status, message.provider_ref) == ("uncertain", "")
    report = aliyun_report(message, biz_id="900619^0", phone_number="13900139000")
    push(world, aliyun_urls(aliyun)["report"], [report])
    message.refresh_from_db()
    assert (message.status, message.provider_ref, message.error) == ("delivered", "900619^0", "")
    assert message.sent_at == local("2026-11-02 10:00:01")


def test_a_receipt_overtaking_our_record_is_pushed_again(world: World, tencent: Provider) -> None:
    first = only_message(asks_and_waits(world))
    customer = world.customer("李雷", phone="+8613900139000")
    world.event(customer, "purchase", amount=900)
    run_until_idle(world.clock)
    slow = Dispatcher(world.clock)
    _claimed, jobs = slow.claim("slow-worker")
    outcomes = slow.send(jobs)  # Tencent has it, and reports before we record its SerialNo
    second = only_message(customer)
    assert second.status == "sending"
    unrecorded = tencent_report(second) | {"mobile": "13900139000", "sid": "2640:not-yet"}
    url = tencent_urls(tencent)["report"]
    answer = push(world, url, [tencent_report(first), unrecorded])
    assert answer.status_code == 503  # so Tencent pushes it again later
    first.refresh_from_db()
    assert first.status == "delivered"  # what could be settled was
    slow.record(outcomes, "slow-worker")
    second.refresh_from_db()
    again = [tencent_report(first), tencent_report(second) | {"mobile": "13900139000"}]
    assert push(world, url, again).status_code == 200
    second.refresh_from_db()
    assert second.status == "delivered"


def test_a_receipt_never_moves_a_message_backwards(world: World, aliyun: Provider) -> None:
    message = only_message(asks_and_waits(world))
    url = aliyun_urls(aliyun)["report"]
    push(world, url, [aliyun_report(message)])
    later = aliyun_report(message, report_time="2026-11-02 11:00:00")
    for payload in ([later], [aliyun_report(message, success=False)]):
        assert push(world, url, payload).status_code == 200
    message.refresh_from_db()
    assert (message.status, message.delivered_at) == ("delivered", local("2026-11-02 10:00:09"))


def test_receipts_for_ids_we_never_sent_are_answered_ok_and_ignored(
    world: World, aliyun: Provider
) -> None:
    message = only_message(asks_and_waits(world))
    stranger = aliyun_report(message, biz_id="someone-else^0", out_id="")
    answer = push(world, aliyun_urls(aliyun)["report"], [stranger])
    assert (answer.status_code, answer.json()["code"]) == (200, 0)
    message.refresh_from_db()
    assert message.status == "sent"


def test_a_wrong_token_is_a_404_and_changes_nothing(
    world: World, aliyun: Provider, tencent: Provider
) -> None:
    message = only_message(asks_and_waits(world))  # sent through Aliyun (listed first)
    good = urlsplit(aliyun_urls(aliyun)["report"]).path
    wrong = [
        good.replace(callbacks.token_for(aliyun.pk), "x" * 24),
        good.replace(f"/{aliyun.pk}/", f"/{tencent.pk}/"),  # another provider's id
        urlsplit(tencent_urls(aliyun)["report"]).path,  # right token, wrong kind
    ]
    for path in wrong:
        assert push(world, path, [aliyun_report(message)]).status_code == 404
    message.refresh_from_db()
    assert message.status == "sent"


def test_the_urls_are_absolute_and_per_provider(world: World, aliyun: Provider) -> None:
    urls = callbacks.urls_for(aliyun)
    assert set(urls) == set(callbacks.LABELS) == {"report", "reply"}
    token = callbacks.token_for(aliyun.pk)
    assert urls["report"] == f"http://localhost:8000/inbound/aliyun-sms/{aliyun.pk}/{token}/report"
    assert callbacks.urls_for(Provider(pk=9, kind="dingtalk")) == {}  # robots: no callbacks


# -- replies --------------------------------------------------------------------------------------


def test_an_sms_reply_ends_the_plan_waiting_for_it(world: World, aliyun: Provider) -> None:
    customer = asks_and_waits(world)
    message = only_message(customer)
    answer = push(world, aliyun_urls(aliyun)["reply"], [aliyun_reply("收到，挺好用的")])
    assert answer.json() == {"code": 0, "msg": "成功"}
    reply = Event.objects.get(type="message_replied")
    assert reply.customer_id == customer.pk
    assert reply.occurred_at == local("2026-11-02 10:20")
    assert reply.properties == {"channel": "sms", "text": "收到，挺好用的", "message": message.pk}
    enrollment = Enrollment.objects.get(customer=customer)
    assert (enrollment.status, enrollment.end_reason) == ("completed", "replied")
    world.travel(timedelta(days=5))
    assert Message.objects.filter(customer=customer).count() == 1  # no second SMS


@pytest.mark.parametrize("text", ["退订", "TD"])
@pytest.mark.parametrize("kind", ["aliyun", "tencent"])
def test_a_stop_word_withdraws_sms_consent(
    world: World, request: Any, kind: str, text: str
) -> None:
    provider = request.getfixturevalue(kind)
    customer = asks_and_waits(world)
    urls, payload = (
        (aliyun_urls(provider), [aliyun_reply(text)])
        if kind == "aliyun"
        else (tencent_urls(provider), tencent_reply(text))
    )
    assert push(world, urls["reply"], payload).status_code == 200
    consent = Consent.objects.get(customer=customer, channel="sms")
    assert (consent.status, consent.method) == ("withdrawn", "sms_reply")


def test_on_a_shared_phone_a_reply_answers_the_last_texted_and_a_stop_word_stops_all(
    world: World, aliyun: Provider
) -> None:
    wangfang = asks_and_waits(world)
    husband = world.customer("张伟", phone="+8613800138000")  # never texted
    url = aliyun_urls(aliyun)["reply"]
    push(world, url, [aliyun_reply("好的", sequence_id=1)])
    assert [e.customer_id for e in Event.objects.filter(type="message_replied")] == [wangfang.pk]
    push(world, url, [aliyun_reply("退订", sequence_id=2)])
    withdrawn = Consent.objects.filter(channel="sms", status="withdrawn")
    assert {c.customer_id for c in withdrawn} == {wangfang.pk, husband.pk}


def test_the_same_push_twice_is_recorded_once(
    world: World, aliyun: Provider, tencent: Provider
) -> None:
    asks_and_waits(world)
    for _ in range(2):
        push(world, aliyun_urls(aliyun)["reply"], [aliyun_reply("好的")])
        push(world, tencent_urls(tencent)["reply"], tencent_reply("好的"))
    assert Event.objects.filter(type="message_replied").count() == 2  # one per provider


def test_a_reply_from_an_unknown_number_is_answered_ok_and_ignored(
    world: World, tencent: Provider
) -> None:
    asks_and_waits(world)
    stranger = tencent_reply("退订") | {"mobile": "13711112222"}
    answer = push(world, tencent_urls(tencent)["reply"], stranger)
    assert answer.json() == {"result": 0, "errmsg": "OK"}
    assert not Event.objects.filter(type="message_replied").exists()


# -- what is refused ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"[{not json", b"\xff\xfe", b'["a string"]', b'[{"phone_number": "13800138000"}]'],
)
def test_a_malformed_push_is_a_400_and_records_nothing(
    world: World, aliyun: Provider, body: bytes
) -> None:
    asks_and_waits(world)
    answer = push(world, aliyun_urls(aliyun)["reply"], body)
    assert answer.status_code == 400
    assert answer.json()["code"] == 400 and answer.json()["msg"]
    assert not Event.objects.filter(type="message_replied").exists()


def test_a_push_with_one_bad_item_records_none_of_it(world: World, aliyun: Provider) -> None:
    customer = asks_and_waits(world)
    batch = [aliyun_reply("好的"), {"phone_number": "13800138000", "content": ["TD"]}]
    answer = push(world, aliyun_urls(aliyun)["reply"], batch)
    assert (answer.status_code, answer.json()["msg"]) == (400, "field 'content' must be a string")
    assert not Event.objects.filter(type="message_replied").exists()
    assert Enrollment.objects.get(customer=customer).status == "active"


def test_only_post_is_accepted_and_the_body_is_capped(world: World, tencent: Provider) -> None:
    path = urlsplit(tencent_urls(tencent)["report"]).path
    assert Client().get(path).status_code == 405
    huge = b"[" + b" " * callbacks.MAX_BODY_BYTES + b"]"
    assert push(world, path, huge).status_code == 413


LOW_SCORE = {"field": "answer.csat", "op": "lt", "value": 3}


def test_a_scored_sms_reply_takes_the_low_score_branch(world: World, aliyun: Provider) -> None:
    """Through the provider's real push: "２" (full-width) to a message asking CSAT is a 2,
    recorded as a survey answer, and the plan's answer.csat branch opens the call."""
    save_template(
        "rate",
        "sms",
        name="满意度",
        body="{{客户姓名}}您好，请回复1-5为本次服务打分",
        provider_template_code="SMS_2",
        asks="csat",
    )
    world.rule(
        {
            "key": "rate-then-call",
            "name": "rate, then call when low",
            "trigger": {"kind": "event", "event": "purchase"},
            "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
            "steps": [
                {
                    "id": "rate",
                    "send": {"channel": "sms", "template": "rate"},
                    "wait_reply": {"days": 3},
                    "branch": [{"when": LOW_SCORE, "goto": "call"}],
                    "on_reply": "stop",
                },
                {"id": "no-reply", "stop": True},
                {"id": "call", "task": {"title": "低分回访 {{客户姓名}}"}},
            ],
        }
    )
    customer = world.customer("王芳", phone="+8613800138000")
    world.event(customer, "purchase", amount=800)
    world.run()
    message = only_message(customer)
    assert push(world, aliyun_urls(aliyun)["reply"], [aliyun_reply("２")]).status_code == 200
    (answer,) = Event.objects.filter(customer=customer, type="survey_answered")
    assert answer.properties == {
        "channel": "sms",
        "text": "２",
        "message": message.pk,
        "csat": 2,
        "asked": "csat",
    }
    assert not Event.objects.filter(type="message_replied").exists()
    world.travel(timedelta(minutes=5))  # the reply came a minute after the world's now

    (task,) = Task.objects.filter(customer=customer)
    assert (task.step, task.title) == ("call", "低分回访 王芳")
