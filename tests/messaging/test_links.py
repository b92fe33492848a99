"""Links in sent messages: short links that count clicks and lead only where the template
pointed, and the e-mail's one-click unsubscribe — through the dispatcher and a real SMTP sink."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from huifang.customers.models import Event
from huifang.engine.runner import run_until_idle
from huifang.integrations.models import Provider
from huifang.messaging import links
from huifang.messaging.dispatch import Dispatcher
from huifang.messaging.models import Click, Message
from huifang.messaging.services import save_template
from tests.engine.world import World, local
from tests.integrations.fakes import Sink, smtp_sink

pytestmark = pytest.mark.django_db

SHORT = re.compile(r"http://testserver/l/([0-9a-z]+-[0-9a-z]+-[A-Za-z0-9_-]{11})")


@pytest.fixture(autouse=True)
def base_url(settings: Any) -> None:
    settings.HUIFANG_BASE_URL = "http://testserver"


def sent_mail(world: World, body: str, **template: Any) -> Message:
    save_template("care", "email", name="关怀", subject="{{客户姓名}}，您好", body=body, **template)
    world.rule(
        {
            "key": "care",
            "name": "care",
            "trigger": {"kind": "event", "event": "visit"},
            "policy": {"quiet_hours": {"start": "00:00", "end": "00:00"}},
            "steps": [{"id": "mail", "send": {"channel": "email", "template": "care"}}],
        }
    )
    customer = world.customer("王芳")
    world.event(customer, "visit")
    run_until_idle(world.clock)
    Dispatcher(world.clock).run_until_idle()
    return Message.objects.get(customer=customer)


def test_urls_in_a_message_become_short_links_that_count_and_redirect(client: Client) -> None:
    world = World(local("2026-11-02 10:00"))
    message = sent_mail(
        world,
        "{{客户姓名}}您好，评价请点 {{回访链接}} 。新品见 https://shop.example.cn/new?id=7。",
        followup_url="https://shop.example.cn/review?o=1",
    )
    assert message.status == "sent"
    tokens = SHORT.findall(message.body)
    assert len(tokens) == 2
    assert "shop.example.cn" not in message.body  # every outside URL goes through us
    assert message.links == [
        "https://shop.example.cn/review?o=1",
        "https://shop.example.cn/new?id=7",
    ]
    answer = client.get(f"/l/{tokens[1]}", HTTP_USER_AGENT="Mozilla/5.0")
    assert answer.status_code == 302
    assert answer["Location"] == "https://shop.example.cn/new?id=7"
    click = Click.objects.get()
    assert (click.message_id, click.index, click.user_agent) == (message.pk, 1, "Mozilla/5.0")
    event = Event.objects.get(type="link_clicked")
    assert event.customer_id == message.customer_id
    assert event.properties["url"] == "https://shop.example.cn/new?id=7"


def test_a_tampered_or_foreign_token_leads_nowhere(client: Client) -> None:
    world = World(local("2026-11-02 10:00"))
    message = sent_mail(world, "见 https://shop.example.cn/a")
    token = links.token(message.pk, 0)
    forged = [
        links.token(message.pk, 5),  # genuine signature, no such link
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token.replace(f"{links._b36(message.pk)}-", f"{links._b36(message.pk + 1)}-", 1),
        "https://evil.example/",
    ]
    for value in forged:
        assert client.get(f"/l/{value}").status_code == 404
    assert not Click.objects.exists()


def test_a_link_checker_s_head_request_is_not_a_click(client: Client) -> None:
    world = World(local("2026-11-02 10:00"))
    message = sent_mail(world, "见 https://shop.example.cn/a")
    answer = client.head(f"/l/{links.token(message.pk, 0)}")
    assert answer.status_code == 302
    assert not Click.objects.exists()


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    with smtp_sink() as served:
        yield served


def test_an_email_goes_out_with_one_click_unsubscribe(sink: tuple[Sink, int]) -> None:
    handler, port = sink
    provider = Provider(name="企业邮箱", kind="email", channel="email")
    provider.set_settings(
        {"host": "127.0.0.1", "port": port, "security": "none", "sender": "hi@shop.example.cn"}
    )
    provider.save()
    world = World(local("2026-11-02 10:00"))
    message = sent_mail(world, "{{客户姓名}}您好。\n退订：{{退订链接}}")
    assert (message.status, message.transport) == ("sent", "email")
    [received] = handler.messages
    assert str(received["Subject"]) == "王芳，您好"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(received["List-Unsubscribe"]).strip()
    unsubscribe = re.fullmatch(r"<(http://testserver/u/[^>]+/)>", header)
    assert unsubscribe is not None
    text = received.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert unsubscribe.group(1) in text  # our own link is not wrapped in a short link
    assert message.provider_ref == received["Message-ID"]
