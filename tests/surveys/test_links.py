"""Personal questionnaire links: signed, they name one respondent; altered or foreign tokens
open nothing; old ones expire politely; opening one again never starts a second response."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from huifang.customers.models import Customer
from huifang.messaging.unsubscribe import token_for as unsubscribe_token
from huifang.surveys.links import link_for, open_link, token_for
from huifang.surveys.models import Response

from .answering import flow_version, url

pytestmark = pytest.mark.django_db


@pytest.fixture
def wang() -> Customer:
    return Customer.objects.create(name="王芳")


def test_a_link_is_absolute_and_names_version_customer_message_and_channel(
    wang: Customer, settings: Any
) -> None:
    settings.HUIFANG_BASE_URL = "https://hf.example.cn"
    version = flow_version()
    link = link_for(version, wang, message_id=42, channel="email")
    assert link.startswith("https://hf.example.cn/s/") and link.endswith("/")
    token = link.split("/s/")[1].rstrip("/")
    opened = open_link(token)
    assert opened.customer == wang and not opened.expired
    response = opened.response
    assert response is not None
    assert (response.version, response.customer, response.message_id, response.channel) == (
        version,
        wang,
        42,
        "email",
    )
    assert len(link) < 120  # it goes into text messages


def test_opening_a_link_again_continues_the_same_response(wang: Customer) -> None:
    version = flow_version()
    token = token_for(version, wang, message_id=42)
    first = open_link(token).response
    assert first is not None
    later = open_link(token_for(version, wang, message_id=42), now=timezone.now() + timedelta(1))
    assert later.response == first
    for _ in range(3):
        assert Client().get(url(version, wang, 42)).status_code == 200
    assert Response.objects.count() == 1
    assert Response.objects.get().started_at == first.started_at
    # Another message is another link, and another response.
    open_link(token_for(version, wang, message_id=43))
    assert Response.objects.count() == 2


@pytest.mark.parametrize(
    "forge",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: "x" + token,
        lambda token: signing.dumps([1, 1, 7, "sms"], salt="another", compress=True),
        lambda token: signing.dumps({"v": 1}, salt="huifang.surveys.link"),
        lambda token: "not-a-token",
    ],
    ids=["altered signature", "altered payload", "another salt", "another shape", "garbage"],
)
def test_a_forged_link_opens_nothing_and_says_so_in_chinese(wang: Customer, forge: Any) -> None:
    version = flow_version()
    token = forge(token_for(version, wang, message_id=7))
    assert open_link(token).customer is None
    page = Client().get(f"/s/{token}/")
    assert page.status_code == 404
    assert "此链接无效" in page.content.decode()
    assert Response.objects.count() == 0


def test_an_unsubscribe_token_is_no_questionnaire_link(wang: Customer) -> None:
    assert open_link(unsubscribe_token(7)).customer is None


def test_a_link_of_a_deleted_customer_opens_nothing(wang: Customer) -> None:
    version = flow_version()
    token = token_for(version, wang)
    wang.delete()
    assert open_link(token) == open_link("garbage")


def test_an_expired_link_shows_the_expiry_page_and_starts_nothing(
    wang: Customer, settings: Any
) -> None:
    settings.HUIFANG_SURVEY_LINK_DAYS = 30
    version = flow_version()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        link = url(version, wang)
        traveller.shift(timedelta(days=29, hours=23))
        assert Client().get(link).status_code == 200
        traveller.shift(timedelta(hours=2))
        page = Client().get(link)
    assert page.status_code == 410
    text = page.content.decode()
    assert "问卷链接已过期" in text and "30" in text
    assert Response.objects.count() == 1  # the one opened in time, nothing more


def test_the_expiry_page_speaks_the_customers_language(wang: Customer) -> None:
    wang.language = "en"
    wang.save()
    version = flow_version()
    old = url(version, wang)
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        page = Client().get(old)
    assert page.status_code == 410
    assert "This questionnaire link has expired" in page.content.decode()
