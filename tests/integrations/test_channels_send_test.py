"""The channels page's "send test": the provider's own answer, against real local fakes
(a DingTalk robot that checks signatures, an in-house SMS gateway, an SMTP server)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from huifang.integrations.models import Provider
from tests.browser.test_customers_in_browser import log_in
from tests.integrations.fakes import JsonHandler, serve
from tests.integrations.test_channels_page import EN, HX, add
from tests.integrations.test_email import Sink, sink  # noqa: F401 - the SMTP fixture
from tests.integrations.test_robots import SECRET, TOKEN, Robots, received


@pytest.fixture
def robots(settings: Any) -> Iterator[str]:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    received.clear()
    with serve(Robots) as url:
        yield url


def dingtalk(client: Client, base: str, token: str = TOKEN) -> Provider:
    return add(
        client, "dingtalk", webhook_url=f"{base}/robot/send?access_token={token}", secret=SECRET
    )


def test_send_test_shows_the_robots_answer_and_keeps_it(alice_client: Client, robots: str) -> None:
    provider = dingtalk(alice_client, robots)
    answer = alice_client.post(f"/channels/{provider.pk}/test/", {}, **EN, **HX)
    fragment = answer.content.decode()
    assert "<html" not in fragment and 'id="send-test"' in fragment
    assert "The provider accepted the test message." in fragment
    assert "&quot;errmsg&quot;: &quot;ok&quot;" in fragment
    assert received["dingtalk"] and provider.name in received["dingtalk"][0]
    provider.refresh_from_db()
    assert provider.last_test_ok is True and '"errmsg": "ok"' in provider.last_test_answer
    assert provider.last_test_at is not None
    listed = alice_client.get("/channels/", **EN).content.decode()
    assert re.search(rf'id="provider-{provider.pk}".*?badge text-bg-success">OK<', listed, re.S)


def test_send_test_shows_a_refusal_with_its_code_and_answer(
    alice_client: Client, robots: str
) -> None:
    provider = dingtalk(alice_client, robots, token="revoked-token")
    page = alice_client.post(f"/channels/{provider.pk}/test/", {}, **EN).content.decode()
    assert "<html" in page  # without htmx the whole page comes back, with the result
    assert "The provider did not accept the test message." in page
    assert "<code>300001</code>" in page and "token is not exist" in page
    assert "revoked-token" not in page
    provider.refresh_from_db()
    assert provider.last_test_ok is False and provider.last_test_answer.startswith(
        "DingTalk 300001:"
    )


def test_a_network_error_does_not_show_the_robots_token(
    alice_client: Client, settings: Any
) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    provider = dingtalk(alice_client, "http://127.0.0.1:9", token="hidden-robot-token")
    page = alice_client.post(f"/channels/{provider.pk}/test/", {}, **EN, **HX).content.decode()
    assert "<code>network</code>" in page and "hidden-robot-token" not in page
    provider.refresh_from_db()
    assert "hidden-robot-token" not in provider.last_test_answer


class Gateway(JsonHandler):
    """An in-house SMS gateway: takes mainland numbers without +86, refuses 139 numbers."""

    sent: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.sent.append(body)
        if b'"13900139000"' in body:
            return self.answer(200, {"code": 1002, "msg": "number is blacklisted"})
        return self.answer(200, {"code": 0, "msg": "accepted", "sid": "SM-1"})


@pytest.mark.parametrize(
    ("phone", "ok", "shows"),
    [("138 0013 8000", True, "SM-1"), ("+86 139 0013 9000", False, "number is blacklisted")],
)
def test_send_test_texts_the_phone_the_admin_types(
    alice_client: Client, settings: Any, phone: str, ok: bool, shows: str
) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    with serve(Gateway) as base:
        rules = {"success_field": "code", "success_value": "0", "id_field": "sid"}
        provider = add(alice_client, "sms_http", url=f"{base}/send", **rules)
        page = alice_client.post(
            f"/channels/{provider.pk}/test/", {"to": phone}, **EN, **HX
        ).content.decode()
    assert shows in page and ("did not accept" in page) is not ok
    provider.refresh_from_db()
    assert provider.last_test_ok is ok
    national = re.sub(r"\D", "", phone)[-11:]
    assert f'"mobile": "{national}"'.encode() in Gateway.sent[-1]


def test_send_test_wants_a_valid_phone_and_sends_nothing_without_one(
    alice_client: Client,
) -> None:
    provider = add(alice_client, "sms_aliyun")
    page = alice_client.post(f"/channels/{provider.pk}/test/", {"to": "12345"}, **HX)
    assert "不是有效的电话号码" in page.content.decode()
    provider.refresh_from_db()
    assert provider.last_test_at is None


def test_send_test_mails_the_address_the_admin_types(
    alice_client: Client,
    sink: tuple[Sink, int],  # noqa: F811 - the fixture imported above
) -> None:
    handler, port = sink
    provider = add(
        alice_client,
        "email",
        host="127.0.0.1",
        port=str(port),
        security="none",
        username="",
        password="",
    )
    page = alice_client.post(
        f"/channels/{provider.pk}/test/", {"to": "wangfang@example.com"}, **EN, **HX
    ).content.decode()
    assert "The provider accepted the test message." in page, page
    assert handler.messages[0]["To"] == "wangfang@example.com"


def test_an_in_app_test_goes_to_the_admin(alice_client: Client, alice: Any) -> None:
    provider = add(alice_client, "inapp")
    page = alice_client.post(f"/channels/{provider.pk}/test/", {}, **EN, **HX).content.decode()
    assert "The provider accepted the test message." in page
    assert alice.notifications.get().title


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_admin_adds_a_dingtalk_robot_and_sees_its_test_answer_in_a_browser(
    live_server: Any, page: Page, alice: Any, robots: str
) -> None:
    log_in(page, live_server.url, "alice")
    page.goto(f"{live_server.url}/channels/")
    page.click("#add-provider")
    page.click("#add-dingtalk")
    page.fill("#id_name", "客服群机器人")
    page.fill("#id_settings-webhook_url", f"{robots}/robot/send?access_token={TOKEN}")
    page.fill("#id_settings-secret", SECRET)
    page.click("#save-provider")
    expect(page.locator("#provider-name")).to_have_text("客服群机器人")
    edit_url = page.url
    page.click("#send-test-button")
    result = page.locator("#test-result")
    expect(result).to_contain_text('"errmsg": "ok"')
    assert page.url == edit_url  # htmx swapped the answer in; the page stayed
    assert received["dingtalk"] and "客服群机器人" in received["dingtalk"][0]
    assert Provider.objects.get().last_test_ok is True
