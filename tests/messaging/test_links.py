"""Links in sent messages: short links that count clicks and lead only where the template
pointed, and the e-mail's one-click unsubscribe — through the dispatcher and a real SMTP sink."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

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
def sink(settings: Any) -> Iterator[tuple[Sink, int]]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # an admin allowed the local relay
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


# -- issue 17: short links lead only where the organisation pointed -------------------------


def mail_with_data(world: World, body: str, **properties: Any) -> Message:
    """A mail rendered from ``body`` for a customer whose event carries ``properties``."""
    save_template("care", "email", name="关怀", subject="您好", body=body)
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
    world.event(customer, "visit", **properties)
    run_until_idle(world.clock)
    Dispatcher(world.clock).run_until_idle()
    return Message.objects.get(customer=customer)


def test_urls_from_customer_or_event_data_are_never_made_short_links(client: Client) -> None:
    world = World(local("2026-11-02 10:00"))
    message = mail_with_data(
        world,
        "您的{{产品名称}}已发货，订单 https://shop.example.cn/o?id={{订单号}} ，新品 "
        "https://shop.example.cn/new 。{{城市}}",
        product="http://169.254.169.254/latest/meta-data/",
        order_id="https://evil.example/phish",
    )
    assert message.status == "sent"
    # The organisation's own URLs (one with an order number from the data) are short links…
    assert message.links == [
        "https://shop.example.cn/o?id=https://evil.example/phish",
        "https://shop.example.cn/new",
    ]
    # …what the data brought stays plain text, never behind our domain.
    assert "http://169.254.169.254/latest/meta-data/" in message.body
    assert len(SHORT.findall(message.body)) == 2
    for index in range(2):
        assert client.get(f"/l/{links.token(message.pk, index)}").status_code == 302


def test_a_template_url_whose_host_is_a_variable_is_not_shortened() -> None:
    written = links.written(
        "a https://{{城市}}.example.cn/x b https://shop.example.cn{{订单号}} "
        "c https://shop.example.cn/p/{{订单号}}。"
    )
    assert written.whole == frozenset()
    assert written.beginnings == ("https://shop.example.cn/p/",)
    assert "https://shop.example.cn/p/7" in written
    assert "https://shop.example.cn.evil.example/" not in written


def sent_message(customer: Any, urls: list[str]) -> Message:
    now = timezone.now()
    return Message.objects.create(
        customer=customer,
        status=Message.Status.SENT,
        planned_at=now,
        created_at=now,
        sent_at=now,
        template="t",
        channels=["sms"],
        channel="sms",
        links=urls,
    )


INTERNAL_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://100.100.100.200/latest/meta-data/",
    "http://127.0.0.1:6379/",
    "http://localhost:8000/admin/",
    "http://[::ffff:127.0.0.1]/",
    "http://0x7f.1/",
    "http://10.0.0.5/intranet",
    "javascript:alert(1)",
    "ftp://files.example.cn/",
]


@pytest.mark.parametrize("url", INTERNAL_TARGETS)
def test_a_link_to_an_internal_address_or_another_scheme_leads_nowhere(
    client: Client, url: str
) -> None:
    # Written by an older version, or by hand: refused when clicked all the same.
    message = sent_message(World(local("2026-11-02 10:00")).customer(), [url])
    answer = client.get(f"/l/{links.token(message.pk, 0)}", HTTP_USER_AGENT="Mozilla/5.0")
    assert answer.status_code == 404
    assert not answer.has_header("Location")
    assert not Click.objects.exists()
    assert not Event.objects.filter(type="link_clicked").exists()


def test_link_domains_limit_where_links_lead(client: Client, settings: Any) -> None:
    settings.HUIFANG_LINK_DOMAINS = ["shop.example.cn"]
    customer = World(local("2026-11-02 10:00")).customer()
    message = sent_message(
        customer, ["https://m.shop.example.cn/a", "https://shop.example.cn/b", "https://x.cn/"]
    )
    statuses = [client.get(f"/l/{links.token(message.pk, i)}").status_code for i in range(3)]
    assert statuses == [302, 302, 404]


BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 MicroMessenger"


def test_repeated_clicks_write_one_click_and_one_event(client: Client) -> None:
    customer = World(local("2026-11-02 10:00")).customer()
    message = sent_message(customer, ["https://shop.example.cn/a", "https://shop.example.cn/b"])
    first, second = (f"/l/{links.token(message.pk, i)}" for i in range(2))
    for _ in range(20):  # a reload, a double tap, a script in a loop
        assert client.get(first, HTTP_USER_AGENT=BROWSER).status_code == 302
    client.get(second, HTTP_USER_AGENT=BROWSER)
    assert Click.objects.filter(message=message, index=0).count() == 1
    assert Click.objects.filter(message=message, index=1).count() == 1
    # Later, a new click is kept; the trigger event is still recorded once per link.
    Click.objects.update(clicked_at=timezone.now() - timedelta(minutes=11))
    client.get(first, HTTP_USER_AGENT=BROWSER)
    assert Click.objects.filter(message=message, index=0).count() == 2
    clicked = Event.objects.filter(type="link_clicked", customer=customer)
    assert sorted(e.properties["url"] for e in clicked) == [
        "https://shop.example.cn/a",
        "https://shop.example.cn/b",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "facebookexternalhit/1.1"},
        {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
        {"User-Agent": "TelegramBot (like TwitterBot)"},
        {"User-Agent": "WhatsApp/2.23.20.0"},
        {"User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"},
        {"User-Agent": "python-requests/2.32"},
        {"User-Agent": "curl/8.5.0"},
        {},  # no user agent at all
        {"User-Agent": BROWSER, "Sec-Purpose": "prefetch;prerender"},
    ],
)
def test_link_previews_prefetches_and_scripts_are_redirected_but_not_counted(
    client: Client, headers: dict[str, str]
) -> None:
    message = sent_message(World(local("2026-11-02 10:00")).customer(), ["https://shop.cn/a"])
    answer = client.get(f"/l/{links.token(message.pk, 0)}", headers=headers)
    assert answer.status_code == 302
    assert not Click.objects.exists()
    assert not Event.objects.filter(type="link_clicked").exists()
