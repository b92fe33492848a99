"""The endpoint through Django's test client: the signature (good, bad, stale, missing), both
ready shapes end to end, retries stored once, conditions, refusals in the API's error shape,
rules fired as by API events, and the log (masked, purged)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from huifang.customers.models import Customer, Event
from huifang.engine.models import Enrollment
from huifang.sources import services
from huifang.sources.models import Received, Source
from huifang.sources.ready import READY
from tests.engine.world import World, local

from .helpers import push

pytestmark = pytest.mark.django_db

NOW = local("2026-09-08 10:20")  # five minutes after the samples' orders were paid


@pytest.fixture(autouse=True)
def _clock() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def make_source(key: str = "youzan-trade-paid", slug: str = "youzan") -> Source:
    source, _secret = services.create_source(name="慢茶小铺", slug=slug, ready=key, actor=None)
    return source


def test_a_youzan_push_becomes_a_new_customer_and_one_purchase() -> None:
    source = make_source()
    answer = push(Client(), source, READY["youzan-trade-paid"].sample)
    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["status"] == "accepted" and body["customer_created"] is True
    customer = Customer.objects.get(pk=body["customer"])
    assert (customer.external_id, customer.name, customer.phone) == (
        "LnhGm4rh576452722916618240",
        "王小明",
        "+8613800138000",
    )
    assert (customer.province, customer.city, customer.source) == ("浙江省", "杭州市", "有赞")
    event = Event.objects.get(pk=body["event"])
    assert event.type == "purchase" and event.source == Event.Source.WEBHOOK
    assert str(event.amount) == "128.00"
    assert event.occurred_at == local("2026-09-08 10:15:30")
    assert event.idempotency_key == f"source:{source.pk}:E20260908101530012345678"
    assert event.properties["items"] == ["桂花乌龙 250g", "玻璃茶杯"]
    customer.refresh_from_db()
    assert customer.order_count == 1 and str(customer.total_spend) == "128.00"


def test_a_shopify_style_webhook_matches_a_customer_by_email() -> None:
    known = Customer.objects.create(external_id="CRM-7", name="李乔", email="jon@example.com")
    source = make_source("shopify-orders-paid", "shop")
    answer = push(Client(), source, READY["shopify-orders-paid"].sample)
    assert answer.status_code == 202, answer.content
    assert answer.json()["customer"] == known.pk and answer.json()["customer_created"] is False
    known.refresh_from_db()
    assert (known.external_id, known.name) == ("CRM-7", "李乔")  # a source never rewrites one
    assert Event.objects.get(customer=known).properties["order_no"] == "#1001"


def test_a_retried_push_stores_nothing_twice() -> None:
    source = make_source()
    client = Client()
    first = push(client, source, READY["youzan-trade-paid"].sample)
    again = push(client, source, READY["youzan-trade-paid"].sample)
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {
        "status": "duplicate",
        "event": first.json()["event"],
        "customer": first.json()["customer"],
    }
    assert Event.objects.count() == 1 and Customer.objects.count() == 1
    assert list(source.received.values_list("status", flat=True)) == ["duplicate", "accepted"]


def test_the_same_order_number_from_two_sources_is_two_events() -> None:
    client = Client()
    push(client, make_source(slug="shop-a"), READY["youzan-trade-paid"].sample)
    push(client, make_source(slug="shop-b"), READY["youzan-trade-paid"].sample)
    assert Event.objects.count() == 2 and Customer.objects.count() == 1


def test_a_condition_not_met_is_accepted_and_ignored() -> None:
    source = make_source()
    payload = {**READY["youzan-trade-paid"].sample, "type": "trade_TradeClose"}
    answer = push(Client(), source, payload)
    assert answer.status_code == 200
    assert answer.json() == {"status": "ignored", "reason": '$.type 不是 "trade_TradePaid"'}
    assert not Event.objects.exists() and not Customer.objects.exists()
    assert source.received.get().status == Received.Status.IGNORED


PURCHASE_RULE = """
key: thanks-after-purchase
name: 购买后致谢
trigger: {kind: event, event: purchase, delay: {hours: 1}}
steps:
  - id: thanks
    send: {channel: sms, template: thanks}
"""


def test_a_pushed_purchase_fires_an_event_rule_once() -> None:
    world = World(NOW)
    rule = world.rule(PURCHASE_RULE)
    source = make_source()
    client = Client()
    answer = push(client, source, READY["youzan-trade-paid"].sample)
    push(client, source, READY["youzan-trade-paid"].sample)
    enrollments = Enrollment.objects.filter(rule=rule)
    assert list(enrollments.values_list("customer_id", flat=True)) == [answer.json()["customer"]]


# -- the signature -------------------------------------------------------------------------------


def refused(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.content
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code
    return error


def test_a_missing_signature_is_401() -> None:
    source = make_source()
    answer = push(Client(), source, {"a": 1}, headers={})
    error = refused(answer, 401, "signature_missing")
    assert error["message"] == "请求需要签名：请发送 X-Huifang-Timestamp 和 X-Huifang-Signature。"


def test_a_signature_with_another_secret_is_401_and_stores_nothing() -> None:
    source = make_source()
    answer = push(Client(), source, READY["youzan-trade-paid"].sample, secret="not-the-secret")
    refused(answer, 401, "bad_signature")
    assert not Event.objects.exists()
    row = source.received.get()
    assert (row.status, row.http_status, row.payload) == ("refused", 401, "")


def test_a_body_changed_after_signing_is_401() -> None:
    source = make_source()
    body = json.dumps(READY["youzan-trade-paid"].sample).encode()
    good = push(Client(), source, body.replace(b"128.00", b"1.00"), headers=_headers(source, body))
    refused(good, 401, "bad_signature")


def _headers(source: Source, body: bytes) -> dict[str, str]:
    from huifang.integrations.webhook.transport import sign

    stamp = int(NOW.timestamp())
    return {
        "X-Huifang-Timestamp": str(stamp),
        "X-Huifang-Signature": sign(source.secret, stamp, body),
    }


@pytest.mark.parametrize("minutes", [-6, 6])
def test_a_stale_or_future_timestamp_is_401(minutes: int) -> None:
    source = make_source()
    at = (NOW + timedelta(minutes=minutes)).timestamp()
    answer = push(Client(), source, READY["youzan-trade-paid"].sample, at=at)
    error = refused(answer, 401, "stale_timestamp")
    assert "5 分钟" in error["message"]
    assert not Event.objects.exists()


def test_a_timestamp_that_is_not_a_number_is_401() -> None:
    source = make_source()
    answer = push(
        Client(),
        source,
        {},
        headers={"X-Huifang-Timestamp": "yesterday", "X-Huifang-Signature": "sha256=00"},
    )
    refused(answer, 401, "bad_timestamp")


def test_a_rotated_secret_refuses_the_old_one() -> None:
    source = make_source()
    old = source.secret
    services.rotate_secret(source, actor=None)
    source.refresh_from_db()
    refused(
        push(Client(), source, READY["youzan-trade-paid"].sample, secret=old), 401, "bad_signature"
    )
    assert push(Client(), source, READY["youzan-trade-paid"].sample).status_code == 202


# -- other refusals ------------------------------------------------------------------------------


def test_an_unknown_address_is_404() -> None:
    answer = Client().post("/hooks/nobody/", b"{}", content_type="application/json")
    refused(answer, 404, "not_found")


def test_a_paused_source_is_409() -> None:
    source = make_source()
    services.set_active(source, False, actor=None)
    refused(push(Client(), source, READY["youzan-trade-paid"].sample), 409, "source_paused")


def test_a_body_over_the_limit_is_413(settings: Any) -> None:
    settings.HUIFANG_SOURCES_MAX_BODY_BYTES = 2048
    source = make_source()
    answer = push(Client(), source, {"pad": "x" * 3000})
    error = refused(answer, 413, "too_large")
    assert "2048" in error["message"]


def test_a_body_that_is_not_json_is_400() -> None:
    source = make_source()
    refused(push(Client(), source, b"{not json"), 400, "invalid_json")
    refused(push(Client(), source, b"[" * 100 + b"]" * 100), 400, "invalid_json")


def test_a_payload_without_the_customer_is_422_and_nothing_is_written() -> None:
    source = make_source("shopify-orders-paid", "shop")
    payload = {**READY["shopify-orders-paid"].sample, "customer": None}
    error = refused(push(Client(), source, payload), 422, "no_customer")
    assert error["message"] == "推送内容在映射指定的位置没有外部编号、手机号或邮箱。"
    assert not Customer.objects.exists() and not Event.objects.exists()


def test_a_purchase_without_an_amount_is_422_and_leaves_no_customer_behind() -> None:
    source = make_source("shopify-orders-paid", "shop")
    payload = {**READY["shopify-orders-paid"].sample, "total_price": "lots"}
    error = refused(push(Client(), source, payload), 422, "validation_error")
    assert "properties.amount" in error["message"]
    assert not Customer.objects.exists() and not Event.objects.exists()


def test_a_get_is_405() -> None:
    source = make_source()
    assert Client().get(f"/hooks/{source.slug}/").status_code == 405


# -- the log -------------------------------------------------------------------------------------


def test_the_log_keeps_the_payload_masked() -> None:
    source = make_source()
    push(Client(), source, READY["youzan-trade-paid"].sample)
    row = source.received.get()
    assert row.status == "accepted" and row.customer_created and row.event_id
    for personal in ("13800138000", "王小明", "文三路 100 号", "LnhGm4rh576452722916618240"):
        assert personal not in row.payload
    assert "E20260908101530012345678" in row.payload and "桂花乌龙" in row.payload
    source.refresh_from_db()
    assert source.last_received_at == timezone.now()


def test_the_log_forgets_rows_after_its_days(settings: Any) -> None:
    settings.HUIFANG_SOURCES_LOG_DAYS = 30
    source = make_source()
    push(Client(), source, READY["youzan-trade-paid"].sample)
    assert services.purge_log(timezone.now() + timedelta(days=29)) == 0
    assert services.purge_log(timezone.now() + timedelta(days=31)) == 1
    assert Event.objects.count() == 1  # what was stored stays


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)


@examples(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), key=st.sampled_from(sorted(READY)))
def test_no_payload_gets_a_500_from_the_endpoint(data: Any, key: str) -> None:
    """Any signed payload — the samples with a value anywhere replaced by anything — is
    answered 200, 202, 400 or 422, never a 500."""
    source = Source.objects.filter(slug=key).first() or make_source(key, key)
    sample = json.loads(json.dumps(READY[key].sample))
    if key == "youzan-trade-paid":
        sample["msg"] = json.loads(unquote(sample["msg"]))
    paths: list[list[Any]] = []
    stack: list[tuple[Any, list[Any]]] = [(sample, [])]
    while stack:
        value, path = stack.pop()
        paths.append(path)
        if isinstance(value, dict):
            stack.extend((v, [*path, k]) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in enumerate(value))
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(json_values)
    if path:
        target = sample
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = replacement
    else:
        sample = replacement
    if key == "youzan-trade-paid" and isinstance(sample, dict) and "msg" in sample:
        sample["msg"] = quote(json.dumps(sample["msg"], ensure_ascii=False))
    answer = push(Client(), source, sample)
    assert answer.status_code in {200, 202, 400, 422}, answer.content
    if answer.status_code >= 400:
        assert answer.json()["error"]["message"]


def test_the_guides_curl_example_works_with_the_blank_mapping() -> None:
    """docs/sources.md pushes this body with curl to a source made from the blank mapping."""
    source = make_source("blank", "my-erp")
    body = (
        '{"order_no":"A1001","amount":"99.00","paid_at":"2026-09-08T10:15:30+08:00",'
        '"customer":{"id":"M-7","name":"王小明","phone":"13800138000"}}'
    )
    answer = push(Client(), source, body.encode())
    assert answer.status_code == 202, answer.content
    event = Event.objects.get()
    assert (event.customer.external_id, str(event.amount)) == ("M-7", "99.00")


def test_a_flood_of_unsigned_requests_leaves_one_line_a_minute_in_the_log() -> None:
    source = make_source()
    client = Client()
    for _ in range(5):
        refused(push(client, source, {}, secret="guess"), 401, "bad_signature")
    refused(push(client, source, {}, headers={}), 401, "signature_missing")
    assert source.received.count() == 1
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        refused(push(client, source, {}, secret="guess"), 401, "bad_signature")
    assert source.received.count() == 2
    assert push(client, source, READY["youzan-trade-paid"].sample).status_code == 202
    assert source.received.count() == 3  # signed requests are always logged
