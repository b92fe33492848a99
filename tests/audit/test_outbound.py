"""Blocked outbound connections are in the audit log: host, port, address, which kind of
address and who asked — once an hour for the same host, port and kind, however often tried.

The providers point at real local servers (and at the metadata address): the guard refuses
them before any connection, and the servers receive nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from huifang.audit.models import Entry
from huifang.audit.services import verify
from huifang.integrations.models import Provider
from huifang.integrations.services import make_test_message, send_test
from huifang.messaging import links
from huifang.messaging.dispatch import Dispatcher
from huifang.messaging.models import Message
from huifang.messaging.services import send_to_staff
from tests.engine.world import World, local
from tests.integrations.fakes import JsonHandler, serve

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
METADATA = "http://169.254.169.254/latest/meta-data/"


class Receiver(JsonHandler):
    """A webhook receiver on this machine: what reaches it is kept."""

    received: list[Any] = []

    def do_POST(self) -> None:
        Receiver.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.answer(200, {"id": "r-1"})


@pytest.fixture
def receiver() -> Iterator[str]:
    """A local receiver, *not* allowed: the outbound guard must refuse it."""
    Receiver.received = []
    with serve(Receiver) as url:
        yield url


def webhook(url: str, *, name: str = "订单系统", channel: str = "staff") -> Provider:
    provider = Provider(name=name, kind="webhook", channel=channel)
    provider.set_settings({"url": url, "secret": "0123456789abcdef-secret"})
    provider.save()
    return provider


def send_a_test(provider: Provider) -> str:
    """An administrator's send test; the error it showed."""
    result = send_test(provider=provider, outgoing=make_test_message(provider=provider, to="x"))
    assert not result.ok and result.code == "blocked_url"
    return result.error


def blocked() -> list[Entry]:
    return list(Entry.objects.filter(action=Entry.Action.OUTBOUND).order_by("seq"))


def test_a_webhook_at_the_metadata_address_is_recorded_once_an_hour() -> None:
    provider = webhook(METADATA)
    with time_machine.travel(START, tick=False) as traveller:
        send_a_test(provider)
        traveller.shift(timedelta(minutes=10))
        send_a_test(provider)
        traveller.shift(timedelta(minutes=49))
        send_a_test(provider)  # three tries within the hour: one entry
        [entry] = blocked()
        assert entry.at == START and entry.verb == "blocked"
        assert (entry.object_type, entry.object_id, entry.object_repr) == (
            "integrations.provider",
            str(provider.pk),
            "订单系统",
        )
        assert entry.details == {
            "host": "169.254.169.254",
            "port": 80,
            "reason": "link-local",
            "address": "169.254.169.254",
            "via": "send test",
            "kind": "webhook",
        }
        traveller.shift(timedelta(minutes=2))  # an hour and a minute after the first
        send_a_test(provider)
    assert [e.at for e in blocked()] == [START, START + timedelta(minutes=61)]
    assert verify() == (2, None)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "audit log intact: 2 entries" in out.getvalue()


def test_a_batch_sent_to_a_local_webhook_is_one_entry_and_nothing_reaches_it(
    receiver: str,
) -> None:
    world = World(local("2026-11-02 10:00"))
    provider = webhook(receiver + "/hook")
    messages = [
        send_to_staff(provider, body=f"新任务 {n}", to="ops", now=world.clock.now())
        for n in range(3)
    ]
    Dispatcher(world.clock, threads=2).run_until_idle()
    assert Receiver.received == []
    for message in messages:
        message.refresh_from_db()
        assert message.status == Message.Status.FAILED and "127.0.0.1" in message.error
    [entry] = blocked()
    port = int(receiver.rsplit(":", 1)[1])
    assert entry.details["host"] == "127.0.0.1" and entry.details["port"] == port
    assert entry.details["reason"] == "loopback" and entry.details["via"] == "sending"
    assert entry.details["message"] in {m.pk for m in messages}
    assert entry.object_repr == "订单系统" and entry.actor == ""
    # The administrator then tries it from the channels page: the same hour, the same entry.
    send_a_test(provider)
    assert len(blocked()) == 1


def test_the_same_address_on_another_port_or_of_another_kind_is_another_entry(
    receiver: str,
) -> None:
    port = int(receiver.rsplit(":", 1)[1])
    send_a_test(webhook(f"http://127.0.0.1:{port}/a"))
    send_a_test(webhook(f"http://127.0.0.1:{port}/b", name="another"))  # same host and port
    send_a_test(webhook(f"http://127.0.0.1:{port + 1}/"))
    send_a_test(webhook("http://10.0.0.8/"))
    assert [(e.details["host"], e.details["port"], e.details["reason"]) for e in blocked()] == [
        ("127.0.0.1", port, "loopback"),
        ("127.0.0.1", port + 1, "loopback"),
        ("10.0.0.8", 80, "private"),
    ]


def test_a_mail_server_inside_is_recorded_with_the_admin_who_tried_it(
    alice_client: Client, alice: Any
) -> None:
    provider = Provider(name="内网邮件", kind="email", channel="email")
    provider.set_settings(
        {"host": "[::ffff:127.0.0.1]", "port": 25, "security": "none", "sender": "a@shop.cn"}
    )
    provider.save()
    page = alice_client.post(f"/channels/{provider.pk}/test/", {"to": "x@shop.cn"})
    assert page.status_code == 200
    [entry] = blocked()
    assert (entry.actor, entry.ip) == ("alice", "127.0.0.1")
    assert entry.details["port"] == 25 and entry.details["reason"] == "loopback"
    assert entry.details["kind"] == "email" and entry.details["via"] == "send test"


def test_what_is_not_an_internal_address_is_not_recorded(settings: Any, receiver: str) -> None:
    send_a_test(webhook("http://no-such-host.invalid/"))  # does not resolve: a typo, not an attempt
    send_a_test(webhook("ftp://files.example.cn/"))
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # an administrator allowed it
    provider = webhook(receiver + "/hook")
    assert send_test(provider=provider, outgoing=make_test_message(provider=provider)).ok
    assert blocked() == []


def test_a_short_link_to_an_internal_address_is_recorded_once(client: Client) -> None:
    customer = World(local("2026-11-02 10:00")).customer()
    now = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    message = Message.objects.create(
        customer=customer,
        status="sent",
        planned_at=now,
        created_at=now,
        sent_at=now,
        template="t",
        channels=["sms"],
        channel="sms",
        links=["http://100.100.100.200/latest/meta-data/"],
    )
    for _ in range(3):
        answer = client.get(f"/l/{links.token(message.pk, 0)}", HTTP_USER_AGENT="Mozilla/5.0")
        assert answer.status_code == 404
    [entry] = blocked()
    assert entry.details == {
        "host": "100.100.100.200",
        "port": 80,
        "reason": "shared",
        "address": "100.100.100.200",
        "via": "short link",
        "message": message.pk,
    }
    assert (entry.object_type, entry.object_id) == ("messaging.message", str(message.pk))


def test_the_audit_page_shows_and_filters_them_in_chinese(alice_client: Client) -> None:
    send_a_test(webhook(METADATA))
    send_a_test(webhook("http://127.0.0.1:6379/", name="redis"))
    page = alice_client.get("/settings/audit/", {"action": "outbound"}).content.decode()
    assert '<option value="outbound" selected>出站连接</option>' in page
    assert page.count("已拦截") == 2
    assert "链路本地地址" in page and "本机回环地址" in page and "管理员的发送测试" in page
    english = alice_client.get(
        "/settings/audit/", {"action": "outbound"}, HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "Outbound connection" in english and "an administrator&#x27;s send test" in english
    assert "link-local (e.g. cloud metadata 169.254.169.254)" in english
