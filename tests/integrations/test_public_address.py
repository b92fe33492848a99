"""Without ``BASE_URL`` the links in messages would silently start with http://localhost:8000,
which no customer can open: the channels page says so and offers the address it was opened at,
``huifang check`` warns, and once an administrator confirms an address every link uses it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from huifang.audit.models import Entry
from huifang.messaging import links, unsubscribe
from huifang.organisation.services import base_url, current, forget

pytestmark = pytest.mark.django_db


@pytest.fixture
def unset(settings: Any) -> Any:
    settings.HUIFANG_BASE_URL_SET = False
    settings.HUIFANG_BASE_URL = "http://localhost:8000"
    settings.ALLOWED_HOSTS = ["testserver", "huifang.shop.cn", "localhost"]
    forget()
    return settings


def page(client: Client, host: str) -> str:
    return client.get("/channels/", HTTP_HOST=host).content.decode()


def test_the_channels_page_warns_and_offers_the_address_it_was_opened_at(
    alice_client: Client, unset: Any
) -> None:
    html = page(alice_client, "localhost:8000")
    assert 'id="public-address"' in html and "http://localhost:8000" in html
    assert "只有本机能打开" in html
    assert 'id="use-seen-address"' not in html  # this machine's own address is no offer
    html = page(alice_client, "huifang.shop.cn")
    assert "使用 http://huifang.shop.cn" in html

    answer = alice_client.post(
        "/channels/public-address/", {"url": "http://huifang.shop.cn"}, follow=True
    )
    assert "http://huifang.shop.cn" in answer.content.decode()
    assert base_url() == "http://huifang.shop.cn"
    assert links.short_url(7, 0).startswith("http://huifang.shop.cn/l/")
    assert unsubscribe.url_for(7).startswith("http://huifang.shop.cn/")
    entry = Entry.objects.get(verb="public address")
    assert entry.details["public_url"] == "http://huifang.shop.cn"
    html = page(alice_client, "huifang.shop.cn")
    assert "只有本机能打开" not in html and 'id="use-seen-address"' not in html


@pytest.mark.parametrize(
    "typed", ["", "huifang.shop.cn", "ftp://huifang.shop.cn", "http://a b", "http://x@evil.cn"]
)
def test_a_bad_address_is_refused_and_nothing_is_stored(
    alice_client: Client, unset: Any, typed: str
) -> None:
    answer = alice_client.post("/channels/public-address/", {"url": typed}, follow=True)
    assert "不是有效地址" in answer.content.decode()
    assert current().public_url == "" and base_url() == "http://localhost:8000"


def test_base_url_decides_when_set_and_the_page_stays_quiet(
    alice_client: Client, unset: Any
) -> None:
    alice_client.post("/channels/public-address/", {"url": "http://huifang.shop.cn"})
    unset.HUIFANG_BASE_URL_SET, unset.HUIFANG_BASE_URL = True, "https://hf.example.com"
    assert base_url() == "https://hf.example.com"
    assert 'id="public-address"' not in page(alice_client, "huifang.shop.cn")


def test_only_who_manages_channels_confirms_an_address(bob_client: Client, unset: Any) -> None:
    answer = bob_client.post("/channels/public-address/", {"url": "http://huifang.shop.cn"})
    assert answer.status_code == 403
    assert base_url() == "http://localhost:8000"
