"""The sources pages: administrators only; create from a ready mapping, edit the mapping with
its errors in the user's language, try a payload without writing, reveal (audited) and rotate
the secret, pause, and the log."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.test import Client

from huifang.audit.models import Entry
from huifang.customers.models import Customer, Event
from huifang.sources import services
from huifang.sources.models import Source
from huifang.sources.ready import READY
from tests.engine.world import local

from .helpers import push

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(alice: Any) -> Source:
    made, _secret = services.create_source(
        name="有赞小店", slug="youzan", ready="youzan-trade-paid", actor=alice
    )
    return made


def test_an_admin_creates_a_source_from_a_ready_mapping_and_sees_its_secret_once(
    alice_client: Client,
) -> None:
    answer = alice_client.post(
        "/settings/sources/new/",
        {"name": "Shop", "slug": "shop", "ready": "shopify-orders-paid"},
    )
    source = Source.objects.get(slug="shop")
    assert answer.status_code == 200
    assert source.mapping == READY["shopify-orders-paid"].document
    assert source.ready == "shopify-orders-paid" and source.created_by is not None
    page = answer.content.decode()
    assert source.secret in page
    assert "http://localhost:8000/hooks/shop/" in page
    assert source.secret not in alice_client.get(f"/settings/sources/{source.pk}/").content.decode()
    assert Entry.objects.filter(verb="source added", object_id=str(source.pk)).exists()


def test_a_slug_in_use_or_malformed_is_refused_in_the_users_language(
    alice_client: Client, source: Source
) -> None:
    taken = alice_client.post(
        "/settings/sources/new/", {"name": "x", "slug": "youzan", "ready": "blank"}
    )
    assert "已有另一个来源使用这个地址名。" in taken.content.decode()
    bad = alice_client.post(
        "/settings/sources/new/", {"name": "x", "slug": "有赞", "ready": "blank"}
    )
    assert "请使用小写字母、数字和连字符" in bad.content.decode()
    assert Source.objects.count() == 1


def test_a_blank_source_starts_with_the_blank_mapping(alice_client: Client) -> None:
    alice_client.post("/settings/sources/new/", {"name": "ERP", "slug": "erp", "ready": "blank"})
    source = Source.objects.get(slug="erp")
    assert source.ready == "" and "customer:" in source.mapping


def test_a_bad_mapping_is_refused_with_the_reason_and_the_old_one_kept(
    alice_client: Client, source: Source
) -> None:
    answer = alice_client.post(
        f"/settings/sources/{source.pk}/mapping/",
        {
            "mapping": "customer: {external_id: order.id}\n"
            "event: {type: purchase, idempotency_key: $.id}"
        },
    )
    assert answer.status_code == 422
    assert "customer.external_id: “order.id”不是 JSONPath" in answer.content.decode()
    source.refresh_from_db()
    assert source.mapping == READY["youzan-trade-paid"].document


def test_a_good_mapping_is_saved_and_audited(alice_client: Client, source: Source) -> None:
    document = READY["youzan-trade-paid"].document.replace("有赞买家", "买家")
    answer = alice_client.post(f"/settings/sources/{source.pk}/mapping/", {"mapping": document})
    assert answer.status_code == 302
    source.refresh_from_db()
    assert source.mapping == document
    assert Entry.objects.filter(verb="source mapping changed").count() == 1


def test_trying_a_payload_shows_what_it_becomes_and_writes_nothing(
    alice_client: Client, source: Source
) -> None:
    answer = alice_client.post(
        f"/settings/sources/{source.pk}/try/",
        {"mapping": source.mapping, "payload": READY["youzan-trade-paid"].sample_text},
    )
    assert answer.status_code == 200
    trial = answer.content.decode().split('id="trial"')[1]  # the pasted payload is echoed above
    assert "将新建一个客户" in trial and "138****8000" in trial and "13800138000" not in trial
    assert "E20260908101530012345678" in trial and "桂花乌龙 250g, 玻璃茶杯" in trial
    assert not Customer.objects.exists() and not Event.objects.exists()


def test_trying_uses_the_mapping_being_edited(alice_client: Client, source: Source) -> None:
    edited = source.mapping.replace("equals: trade_TradePaid", "equals: trade_TradeClose")
    answer = alice_client.post(
        f"/settings/sources/{source.pk}/try/",
        {"mapping": edited, "payload": READY["youzan-trade-paid"].sample_text},
    )
    page = answer.content.decode()
    assert "将被忽略" in page and "trade_TradeClose" in page
    source.refresh_from_db()
    assert "trade_TradePaid" in source.mapping  # trying saves nothing


def test_trying_a_payload_that_is_not_json_says_so(alice_client: Client, source: Source) -> None:
    answer = alice_client.post(
        f"/settings/sources/{source.pk}/try/", {"mapping": source.mapping, "payload": "{oops"}
    )
    assert "不是有效的 JSON" in answer.content.decode().split('id="trial"')[1]


def test_trying_finds_an_existing_customer(alice_client: Client, source: Source) -> None:
    known = Customer.objects.create(external_id="X", name="老客户", phone="+8613800138000")
    source.mapping = source.mapping.replace("match: [external_id, phone]", "match: [phone]")
    answer = alice_client.post(
        f"/settings/sources/{source.pk}/try/",
        {"mapping": source.mapping, "payload": READY["youzan-trade-paid"].sample_text},
    )
    assert f"已有客户 老客户（#{known.pk}）" in answer.content.decode()


def test_showing_the_secret_is_deliberate_and_audited(alice_client: Client, source: Source) -> None:
    page = alice_client.get(f"/settings/sources/{source.pk}/").content.decode()
    assert source.secret not in page
    shown = alice_client.post(f"/settings/sources/{source.pk}/secret/").content.decode()
    assert source.secret in shown
    entry = Entry.objects.get(verb="source secret shown")
    assert entry.actor == "alice" and source.secret not in str(entry.details)


def test_rotating_the_secret_shows_the_new_one(alice_client: Client, source: Source) -> None:
    old = source.secret
    page = alice_client.post(f"/settings/sources/{source.pk}/rotate/").content.decode()
    source.refresh_from_db()
    assert source.secret != old and source.secret in page and old not in page
    assert Entry.objects.filter(verb="source secret rotated").exists()


def test_pausing_and_resuming(alice_client: Client, source: Source) -> None:
    alice_client.post(f"/settings/sources/{source.pk}/toggle/")
    source.refresh_from_db()
    assert not source.active
    alice_client.post(f"/settings/sources/{source.pk}/toggle/")
    source.refresh_from_db()
    assert source.active


def test_the_list_and_the_log_show_what_was_received(alice_client: Client, source: Source) -> None:
    with time_machine.travel(local("2026-09-08 10:20"), tick=False):
        push(Client(), source, READY["youzan-trade-paid"].sample)
        push(Client(), source, READY["youzan-trade-paid"].sample)
        push(Client(), source, {}, secret="wrong")
        listing = alice_client.get("/settings/sources/")
        detail = alice_client.get(f"/settings/sources/{source.pk}/").content.decode()
    assert "有赞小店" in listing.content.decode()
    assert "2026-09-08 10:20" in listing.content.decode()
    counted = listing.context["sources"][0]
    assert (counted.accepted, counted.duplicate, counted.ignored, counted.refused) == (1, 1, 0, 1)
    assert detail.count('class="received-row"') == 3
    assert "签名与这个来源的密钥不符。" in detail
    received = source.received.filter(status="accepted").get()
    one = alice_client.get(
        f"/settings/sources/{source.pk}/received/{received.pk}/"
    ).content.decode()
    assert "138****8000" in one and "13800138000" not in one


def test_the_settings_menu_offers_the_page_to_administrators_only(
    alice_client: Client, bob_client: Client, carol_client: Client
) -> None:
    assert 'href="/settings/sources/"' in alice_client.get("/").content.decode()
    for other in (bob_client, carol_client):
        assert 'href="/settings/sources/"' not in other.get("/").content.decode()


def test_other_roles_are_refused(carol_client: Client, source: Source) -> None:
    assert carol_client.get("/settings/sources/").status_code == 403
    assert carol_client.post(f"/settings/sources/{source.pk}/secret/").status_code == 403
    assert not Entry.objects.filter(verb="source secret shown").exists()
