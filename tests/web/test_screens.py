"""Pages: the customer 360, the API tokens page, language, escaping, permissions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from huifang.accounts.models import ApiToken
from huifang.customers.models import Consent, Customer, Event

T0 = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)


def test_the_360_page_shows_profile_consent_figures_and_timeline(
    bob_client: Client, customer: Customer
) -> None:
    Consent.objects.create(
        customer=customer,
        channel="sms",
        status="granted",
        recorded_at=T0,
        method="web_form",
        text_version="v3",
        evidence="注册页勾选",
    )
    Consent.objects.create(
        customer=customer,
        channel="email",
        status="withdrawn",
        recorded_at=T0,
        method="unsubscribe_link",
    )
    for day, kind in enumerate(["visit", "purchase", "ticket_closed"]):
        Event.objects.create(
            customer=customer,
            type=kind,
            occurred_at=T0 + timedelta(days=day),
            properties={"n": day},
        )
    customer.order_count, customer.total_spend = 4, 1234
    customer.save()
    html = bob_client.get(f"/customers/{customer.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    text = html.content.decode()
    assert "王小明" in text and "138****8000" in text and "138 0013 8000" not in text
    assert text.count("Granted") >= 1 and "Withdrawn" in text and "Not recorded" in text
    assert "¥1,234.00" in text
    events = text[text.index('id="timeline"') :]
    assert events.index("Ticket closed") < events.index("Purchase") < events.index("Visit")


def test_the_timeline_loads_older_events_in_pages(bob_client: Client, customer: Customer) -> None:
    Event.objects.bulk_create(
        Event(
            customer=customer,
            type="page_view",
            occurred_at=T0 + timedelta(hours=i),
            properties={"i": i},
        )
        for i in range(45)
    )
    first = bob_client.get(f"/customers/{customer.pk}/").content.decode()
    assert first.count('class="props"') == 20
    more = re.search(r'hx-get="(/customers/\d+/timeline/\?after=[^"]+)"', first)
    assert more
    second = bob_client.get(more.group(1).replace("&amp;", "&")).content.decode()
    # A custom key is shown under its own name: <dt>i</dt> <dd data-key="i">44</dd>.
    value = r'data-key="i">(\d+)<'
    shown = re.findall(value, first) + re.findall(value, second)
    assert [int(i) for i in shown] == list(range(44, 4, -1))


def test_user_text_is_escaped(bob_client: Client) -> None:
    evil = Customer.objects.create(name="<script>alert(1)</script>")
    Event.objects.create(
        customer=evil,
        type="visit",
        occurred_at=T0,
        properties={"note": "<img src=x onerror=alert(2)>"},
    )
    for url in ("/customers/", f"/customers/{evil.pk}/"):
        html = bob_client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "<img src=x" not in html
        assert "&lt;script&gt;" in html


@pytest.mark.django_db
def test_the_login_page_speaks_chinese_by_default_and_english_on_request() -> None:
    client = Client()
    assert "登录" in client.get("/login/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/login/"})
    assert "Log in" in client.get("/login/").content.decode()


def test_an_admin_creates_a_token_seen_once_and_revokes_it(alice_client: Client) -> None:
    created = alice_client.post("/settings/api-tokens/", {"name": "订单系统"}).content.decode()
    secret = re.search(r"(hf_[\w-]{20,})", created)
    assert secret
    again = alice_client.get("/settings/api-tokens/").content.decode()
    assert secret.group(1) not in again
    token = ApiToken.objects.get(name="订单系统")
    assert ApiToken.find(secret.group(1)) == token
    alice_client.post(f"/settings/api-tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.is_revoked


def test_the_token_scopes_say_what_they_allow_and_point_to_the_table(alice_client: Client) -> None:
    page = alice_client.get("/settings/api-tokens/").content.decode()
    assert ">只读（个人信息打码）</option>" in page
    assert ">读写，显示完整个人信息（记入审计）</option>" in page
    assert 'href="/settings/permissions/" id="scope-table"' in page
    table = alice_client.get("/settings/permissions/").content.decode()
    assert "API 令牌" in table  # the scopes are columns of the permission table


def test_an_agent_cannot_manage_tokens(bob_client: Client, api_token: str) -> None:
    token = ApiToken.objects.get()
    assert bob_client.get("/settings/api-tokens/").status_code == 403
    assert bob_client.post("/settings/api-tokens/", {"name": "x"}).status_code == 403
    assert bob_client.post(f"/settings/api-tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert not token.is_revoked and ApiToken.objects.count() == 1
    assert "/settings/api-tokens/" not in bob_client.get("/customers/").content.decode()


def test_an_admin_sees_the_tokens_link(alice_client: Client) -> None:
    assert "/settings/api-tokens/" in alice_client.get("/customers/").content.decode()


@pytest.mark.django_db
def test_health() -> None:
    assert Client().get("/health/").json() == {"status": "ok", "database": "ok"}


def test_each_role_lands_on_its_own_page(bob_client: Client, carol_client: Client) -> None:
    response: Any = bob_client.get("/")
    assert response.status_code == 302 and response["Location"] == "/tasks/"  # 我的回访
    response = carol_client.get("/")
    assert response.status_code == 302 and response["Location"] == "/tasks/board/"
