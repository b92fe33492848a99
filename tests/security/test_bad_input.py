"""Bad input is a clear 4xx in the user's language, never a 500 (issue 17, DESIGN.md
invariant 10): each path the issue found, reproduced through the real app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from huifang.customers.models import Customer, Event
from huifang.engine.models import Enrollment
from huifang.integrations.models import Provider
from huifang.integrations.sms_aliyun.inbound import callback_urls as aliyun_urls
from tests.engine.world import World, local
from tests.tasks.helpers import a_customer, open_one

pytestmark = pytest.mark.django_db


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return dict(body["error"])


def post_raw(client: Client, path: str, body: bytes | str, **extra: Any) -> Any:
    return client.post(path, data=body, content_type="application/json", **extra)


# --- NaN and Infinity --------------------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_in_an_api_body_is_a_400(api: Client, constant: str) -> None:
    body = '{"external_id": "C1", "name": "甲", "attributes": {"score": CONSTANT}}'.replace(
        "CONSTANT", constant
    )
    response = post_raw(api, "/api/v1/customers", body)
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_json"
    assert constant.lstrip("-") in error(response)["message"]
    assert not Customer.objects.exists()


def test_nan_in_a_batch_row_is_a_400(api: Client) -> None:
    body = '{"events": [{"type": "visit", "properties": {"x": NaN}}]}'
    response = post_raw(api, "/api/v1/events/batch", body)
    assert response.status_code == 400
    assert not Event.objects.exists()


def test_the_refusal_speaks_the_users_language(api: Client) -> None:
    body = '{"external_id": "C1", "name": "甲", "attributes": {"x": NaN}}'
    en = post_raw(api, "/api/v1/customers", body, HTTP_ACCEPT_LANGUAGE="en")
    zh = post_raw(api, "/api/v1/customers", body, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "not a number JSON allows" in error(en)["message"]
    assert "not a number JSON allows" not in error(zh)["message"]


@pytest.fixture
def aliyun(db: None) -> Iterator[Provider]:
    provider = Provider(name="阿里云短信", kind="sms_aliyun", channel="sms")
    provider.set_settings(
        {"access_key_id": "LTAI-test", "access_key_secret": "s", "endpoint": "http://x/"}
    )
    provider.save()
    yield provider


@pytest.mark.parametrize(
    "body",
    [
        b'[{"phone_number": "13800138000", "content": "TD", "x": NaN}]',
        b"[" * 100_000 + b"]" * 100_000,  # deeply nested: a RecursionError was a 500
        b'[{"phone_number": "13800138000", "content": "T\\u0000D"}]',
    ],
    ids=["nan", "deep", "nul"],
)
def test_a_callback_refuses_what_json_should_not_hold(aliyun: Provider, body: bytes) -> None:
    path = urlsplit(aliyun_urls(aliyun)["reply"]).path
    for content_type in ("application/json", "text/plain"):
        response = Client().post(path, data=body, content_type=content_type)
        assert response.status_code == 400, response.content
        assert response.json()["msg"]
    assert not Event.objects.exists()


# --- bodies over the limit ---------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413(api: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    rows = [{"external_id": f"C{i}", "name": "甲" * 20} for i in range(100)]
    response = post_raw(api, "/api/v1/customers/batch", json.dumps({"customers": rows}))
    assert response.status_code == 413
    assert error(response)["code"] == "too_large"
    assert "4096" in error(response)["message"]
    assert not Customer.objects.exists()


def test_a_form_over_the_limit_is_a_413(alice_client: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 4096
    response = alice_client.post(reverse("rules:new"), {"name": "x" * 5000, "key": "big"})
    assert response.status_code == 413
    assert "4096" in response.content.decode()


def test_a_form_with_too_many_fields_is_a_413(alice_client: Client, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = alice_client.post(reverse("rules:new"), {f"f{i}": "x" for i in range(20)})
    assert response.status_code == 413


# --- dates no delay can be added to ------------------------------------------------------------


@pytest.mark.parametrize(
    "occurred_at",
    ["9999-12-31T23:00:00+08:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+08:00"],
)
def test_a_purchase_in_year_9999_while_a_rule_is_active_is_a_422(
    post_json: Any, occurred_at: str
) -> None:
    world = World(local("2026-11-02 10:00"))
    world.rule(
        {
            "key": "thanks",
            "name": "购买后致谢",
            "trigger": {"kind": "event", "event": "purchase", "delay": {"days": 3}},
            "steps": [{"id": "call", "task": {"title": "回访"}}],
        }
    )
    Customer.objects.create(external_id="C1", name="甲")
    response = post_json(
        "/api/v1/events",
        {
            "type": "purchase",
            "customer_external_id": "C1",
            "occurred_at": occurred_at,
            "properties": {"amount": 10},
        },
    )
    assert response.status_code == 422, response.content
    assert error(response)["code"] == "date_out_of_range"
    assert error(response)["field"] == "occurred_at"
    assert not Event.objects.exists() and not Enrollment.objects.exists()


def test_a_birthday_in_year_9999_is_a_422(post_json: Any) -> None:
    response = post_json(
        "/api/v1/customers", {"external_id": "C1", "name": "甲", "birthday": "9999-12-31"}
    )
    assert response.status_code == 422
    assert error(response)["field"] == "birthday"


@pytest.mark.parametrize(
    ("first", "last"),
    [("0001-01-01", "0001-01-31"), ("9999-12-01", "9999-12-31"), ("0001-01-01", "0001-01-01")],
)
def test_dashboard_periods_in_year_1_or_9999_say_why(
    alice_client: Client, first: str, last: str
) -> None:
    alice_client.cookies["django_language"] = "en"
    response = alice_client.get(
        reverse("rules:dashboard"), {"period": "custom", "from": first, "to": last}
    )
    assert response.status_code == 400  # the page, with the period's error
    assert "Enter dates between 1900-01-01 and 2199-12-31." in response.content.decode()


def test_the_message_log_ignores_dates_no_zone_can_reach(alice_client: Client) -> None:
    for first, last in [("0001-01-01", "0001-01-02"), ("9999-12-30", "9999-12-31")]:
        response = alice_client.get(reverse("messaging:messages"), {"from": first, "to": last})
        assert response.status_code == 200


# --- numbers no database id can be -------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"assignee": "9" * 30},
        {"assignee": "²"},
        {"team": "9" * 30},
        {"team": "²"},
        {"after": "9" * 30},
    ],
)
def test_a_huge_integer_in_a_board_filter_is_no_match(
    carol_client: Client, query: dict[str, str]
) -> None:
    assert carol_client.get(reverse("tasks:board"), query).status_code == 200


def test_huge_ids_elsewhere_are_no_match(alice_client: Client) -> None:
    huge = "9" * 30
    assert alice_client.get(reverse("tasks:new"), {"customer": huge}).status_code == 200
    assert alice_client.get(reverse("customers:list"), {"owner": huge}).status_code == 200
    assert alice_client.get(reverse("customers:list"), {"tag": huge}).status_code == 200
    assert alice_client.get(f"/customers/{huge}/").status_code == 404
    assert alice_client.get(f"/tasks/{huge}/").status_code == 404


# --- NUL characters ----------------------------------------------------------------------------


def test_nul_in_an_api_body_is_a_400(api: Client) -> None:
    body = {"external_id": "C1", "name": "甲\u0000乙"}
    response = post_raw(api, "/api/v1/customers", json.dumps(body))
    assert response.status_code == 400
    assert error(response)["code"] == "nul_character"
    assert not Customer.objects.exists()


def test_nul_in_a_form_or_query_is_a_400(alice_client: Client) -> None:
    response = alice_client.post(reverse("rules:new"), {"name": "甲\x00", "key": "nul"})
    assert response.status_code == 400
    assert "U+0000" in response.content.decode()
    assert alice_client.get(reverse("customers:list"), {"q": "a\x00"}).status_code == 400


@pytest.mark.parametrize("amount", ["NaN", "sNaN", "Infinity", "-Infinity", True, "1e400", 1e308])
def test_a_purchase_amount_that_is_no_number_is_a_422(
    post_json: Any, customer: Customer, amount: Any
) -> None:
    response = post_json(
        "/api/v1/events",
        {
            "type": "purchase",
            "customer_external_id": customer.external_id,
            "occurred_at": "2026-10-08T09:00:00+08:00",
            "properties": {"amount": amount},
        },
    )
    assert response.status_code == 422, response.content
    assert error(response)["field"] == "properties.amount"
    assert not Event.objects.exists()


def test_a_call_back_in_year_9999_is_refused(alice_client: Client, alice: Any) -> None:
    task = open_one(a_customer(), None, now=local("2026-11-02 10:00"), assignee=alice)
    response = alice_client.post(
        reverse("tasks:outcome", kwargs={"pk": task.pk}),
        {"outcome": "call_back", "call_back_at": "9999-12-31T23:59"},
    )
    assert response.status_code == 400
    assert "2199-12-31" in response.content.decode()
    task.refresh_from_db()
    assert task.outcome == "" and task.status == "open"


def test_nul_in_a_header_is_a_400(api: Client) -> None:
    body = json.dumps({"external_id": "C1", "name": "甲"})
    response = post_raw(api, "/api/v1/customers", body, HTTP_IDEMPOTENCY_KEY="k\x00")
    assert response.status_code == 400
    assert error(response)["field"] == "Idempotency-Key"
    assert not Customer.objects.exists()
