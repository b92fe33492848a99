"""The organisation's default SMS signature: used when preparing an SMS whose template has none
and whose provider has none of its own; a template's or provider's signature comes first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import time
from typing import Any

import pytest

from huifang.engine.runner import run_until_idle
from huifang.integrations.models import Provider
from huifang.messaging.dispatch import Dispatcher
from huifang.messaging.models import Message
from huifang.messaging.services import save_template
from huifang.organisation import services
from tests.engine.world import World, local
from tests.integrations.fakes import JsonHandler, serve

pytestmark = pytest.mark.django_db


class Gateway(JsonHandler):
    """An in-house SMS gateway that keeps what it was asked to send."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        Gateway.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.answer(200, {"code": 0})


@pytest.fixture
def gateway(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    Gateway.received = []
    with serve(Gateway) as url:
        yield url


def provider(url: str, *, signature: str = "") -> Provider:
    row = Provider(name="in-house gateway", kind="sms_http", channel="sms")
    row.set_settings(
        {
            "url": f"{url}/send",
            "parameters": {"mobile": "{to}", "content": "{body}", "sign": "{signature}"},
            "signature": signature,
        }
    )
    row.save()
    return row


def sent_sms(*, template_signature: str = "") -> dict[str, Any]:
    """One SMS through the engine and the dispatcher; what the gateway received."""
    world = World(local("2026-11-02 10:00"))
    save_template(
        "thanks", "sms", name="感谢", body="{{客户姓名}}您好", sms_signature=template_signature
    )
    world.rule(
        {
            "key": "thanks",
            "name": "thanks",
            "trigger": {"kind": "event", "event": "purchase"},
            "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
            "steps": [{"id": "thank", "send": {"channel": "sms", "template": "thanks"}}],
        }
    )
    world.event(world.customer("王芳"), "purchase", order_id="A-1", amount=199)
    run_until_idle(world.clock)
    Dispatcher(world.clock).run_until_idle()
    assert Message.objects.get().status == Message.Status.SENT
    (request,) = Gateway.received
    return request


def organisation_signature(signature: str) -> None:
    services.save_settings(
        quiet_start=time(21, 0),
        quiet_end=time(8, 0),
        working_days=[0, 1, 2, 3, 4],
        working_start=time(9, 0),
        working_end=time(18, 0),
        caps=[],
        sms_signature=signature,
        actor=None,
    )


def test_a_template_without_signature_gets_the_organisations(gateway: str) -> None:
    provider(gateway)
    organisation_signature("回访中心")
    request = sent_sms()
    assert (request["sign"], request["content"]) == ("回访中心", "【回访中心】王芳您好")


def test_the_templates_own_signature_wins(gateway: str) -> None:
    provider(gateway)
    organisation_signature("回访中心")
    assert sent_sms(template_signature="门店服务")["content"] == "【门店服务】王芳您好"


def test_the_providers_own_signature_comes_before_the_organisations(gateway: str) -> None:
    provider(gateway, signature="网关签名")
    organisation_signature("回访中心")
    assert sent_sms()["content"] == "【网关签名】王芳您好"


def test_without_any_signature_the_text_goes_as_it_is(gateway: str) -> None:
    provider(gateway)
    request = sent_sms()
    assert (request["sign"], request["content"]) == ("", "王芳您好")
