"""The ingestion API as an order or ticket system uses it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from huifang.accounts.models import ApiToken
from huifang.customers.models import Consent, Customer, CustomEventType, Event

Post = Callable[..., Any]


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    return dict(body["error"])


# --- authentication -------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_refuses_a_request_without_a_token() -> None:
    response = Client().post(
        "/api/v1/customers", {"external_id": "C1", "name": "甲"}, content_type="application/json"
    )
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_bad_token() -> None:
    client = Client(HTTP_AUTHORIZATION="Bearer hf_not-a-real-token")
    response = client.post(
        "/api/v1/customers", {"external_id": "C1", "name": "甲"}, content_type="application/json"
    )
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_token"
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_revoked_token() -> None:
    token, secret = ApiToken.issue(name="old shop")
    token.revoke()
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post(
        "/api/v1/events",
        {"type": "visit", "customer_external_id": "C1", "occurred_at": "2026-10-08T09:00:00+08:00"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert error(response)["code"] == "token_revoked"
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_tokens_are_stored_hashed_and_their_use_recorded(post_json: Post, api_token: str) -> None:
    token = ApiToken.objects.get()
    assert api_token not in json.dumps([token.prefix, token.digest, token.name])
    assert post_json("/api/v1/customers", {"external_id": "C1", "name": "甲"}).status_code == 201
    token.refresh_from_db()
    assert token.last_used_at is not None


# --- customers ------------------------------------------------------------------------------


def test_it_creates_then_updates_a_customer_by_external_id(post_json: Post) -> None:
    created = post_json(
        "/api/v1/customers",
        {
            "external_id": "C1001",
            "name": "王小明",
            "phone": "138 0013 8000",
            "tier": "vip",
            "tags": ["会员", "老客户"],
            "attributes": {"level": 3, "note": "x"},
        },
    )
    assert created.status_code == 201, created.content
    assert created.json()["phone"] == "138****8000"  # answered masked (DESIGN.md invariant 9)
    assert Customer.objects.get(external_id="C1001").phone == "+8613800138000"
    updated = post_json(
        "/api/v1/customers",
        {
            "external_id": "C1001",
            "city": "杭州市",
            "tags": ["会员"],
            "attributes": {"note": None},
        },
    )
    assert updated.status_code == 200
    body = updated.json()
    assert (body["name"], body["phone"], body["tier"], body["city"]) == (
        "王小明",
        "138****8000",
        "vip",
        "杭州市",
    )
    assert body["tags"] == ["会员"]
    assert body["attributes"] == {"level": 3}
    assert Customer.objects.count() == 1


def test_an_invalid_phone_is_refused_and_nothing_is_saved(post_json: Post) -> None:
    response = post_json(
        "/api/v1/customers",
        {"external_id": "C1", "name": "甲", "phone": "12345"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422
    body = error(response)
    assert (body["code"], body["field"]) == ("invalid_phone", "phone")
    assert "12345" in body["message"]
    assert not Customer.objects.exists()


def test_consent_is_recorded_with_its_evidence(post_json: Post) -> None:
    response = post_json(
        "/api/v1/customers",
        {
            "external_id": "C1",
            "name": "甲",
            "consents": [
                {
                    "channel": "sms",
                    "status": "granted",
                    "method": "web_form",
                    "text_version": "v3",
                    "evidence": "注册页勾选 IP 10.0.0.1",
                }
            ],
        },
    )
    assert response.status_code == 201
    consent = Consent.objects.get()
    assert (consent.channel, consent.status, consent.text_version) == ("sms", "granted", "v3")
    assert Event.objects.filter(type="consent_changed", properties__channel="sms").exists()


def test_an_unknown_owner_is_named(post_json: Post) -> None:
    response = post_json(
        "/api/v1/customers", {"external_id": "C1", "name": "甲", "owner": "nobody"}
    )
    assert response.status_code == 422
    assert error(response)["code"] == "unknown_owner"


# --- batches --------------------------------------------------------------------------------


def test_a_batch_of_a_thousand_customers_is_one_request(post_json: Post) -> None:
    rows = [
        {"external_id": f"B{i}", "name": f"客户{i}", "phone": f"1380013{i:04d}"}
        for i in range(1000)
    ]
    response = post_json("/api/v1/customers/batch", {"customers": rows})
    assert response.status_code == 200
    assert (response.json()["created"], response.json()["failed"]) == (1000, 0)
    assert Customer.objects.count() == 1000


def test_a_batch_saves_the_good_rows_and_reports_the_bad_ones(post_json: Post) -> None:
    Customer.objects.create(external_id="OLD", name="老客户")
    rows = [
        {"external_id": "A", "name": "甲"},
        {"external_id": "B", "name": "乙", "phone": "not a phone"},
        {"external_id": "OLD", "city": "苏州市"},
        {"external_id": "NEW"},  # a new customer needs a name
        {"external_id": "A", "name": "甲again"},
        "not an object",
    ]
    response = post_json("/api/v1/customers/batch", {"customers": rows})
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["failed"]) == (1, 1, 4)
    errors = {e["index"]: e for e in body["errors"]}
    assert errors[1]["code"] == "invalid_phone" and errors[1]["field"] == "phone"
    assert errors[3]["field"] == "name"
    assert errors[4]["code"] == "duplicate_in_batch"
    assert errors[5]["code"] == "invalid_row"
    assert all(e["message"] for e in body["errors"])
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"A", "OLD"}
    assert Customer.objects.get(external_id="OLD").city == "苏州市"


def test_an_oversized_batch_is_refused_whole(post_json: Post) -> None:
    rows = [{"external_id": f"X{i}", "name": "x"} for i in range(settings.API_BATCH_MAX_ROWS + 1)]
    response = post_json("/api/v1/customers/batch", {"customers": rows})
    assert response.status_code == 413
    assert error(response)["code"] == "batch_too_large"
    assert not Customer.objects.exists()


def test_an_empty_batch_is_refused_as_its_schema_says(post_json: Post) -> None:
    response = post_json("/api/v1/events/batch", {"events": []})
    assert response.status_code == 422
    assert error(response)["details"][0]["field"] == "events"


# --- events ---------------------------------------------------------------------------------


def purchase(key: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "type": "purchase",
        "customer_external_id": "C-1",
        "occurred_at": "2026-10-08T09:30:00+08:00",
        "properties": {"order_id": "SO1", "amount": 1299},
    }
    if key:
        body["idempotency_key"] = key
    return body | extra


def test_a_repeated_idempotency_key_returns_the_first_event(
    post_json: Post, customer: Customer
) -> None:
    first = post_json("/api/v1/events", purchase("order-SO1"))
    again = post_json("/api/v1/events", purchase("order-SO1", occurred_at="2026-10-09T10:00:00Z"))
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["duplicate"] is True
    assert Event.objects.filter(type="purchase").count() == 1
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spend) == (1, Decimal("1299"))


def test_a_key_repeated_inside_one_batch_is_stored_once(
    post_json: Post, customer: Customer
) -> None:
    response = post_json(
        "/api/v1/events/batch", {"events": [purchase("k1"), purchase("k1"), purchase("k2")]}
    )
    body = response.json()
    assert (body["created"], body["duplicates"]) == (2, 1)
    assert Event.objects.filter(type="purchase").count() == 2


def test_an_event_batch_saves_the_good_rows(post_json: Post, customer: Customer) -> None:
    rows = [
        purchase(),
        purchase(customer_external_id="NOBODY"),
        {
            "type": "teleported",
            "customer_external_id": "C-1",
            "occurred_at": "2026-10-08T09:30:00+08:00",
        },
        purchase(properties={"order_id": "SO2"}),  # no amount
        {"type": "visit", "customer_external_id": "C-1", "occurred_at": "yesterday"},
    ]
    body = post_json("/api/v1/events/batch", {"events": rows}).json()
    assert (body["created"], body["failed"]) == (1, 4)
    codes = {e["index"]: e["code"] for e in body["errors"]}
    assert codes == {
        1: "unknown_customer",
        2: "unknown_event_type",
        3: "validation_error",
        4: "validation_error",
    }
    assert Event.objects.filter(customer=customer, type="purchase").count() == 1


def test_an_inline_customer_is_created_with_its_events(post_json: Post) -> None:
    new = {"external_id": "N1", "name": "新客", "phone": "13900139000"}
    rows = [purchase(customer_external_id=None, customer=new) for _ in range(3)]
    for row in rows:
        row.pop("customer_external_id")
    body = post_json("/api/v1/events/batch", {"events": rows}).json()
    assert (body["created"], body["failed"]) == (3, 0), body
    assert Customer.objects.get(external_id="N1").order_count == 3


def test_custom_event_types_are_accepted(post_json: Post, customer: Customer) -> None:
    CustomEventType.objects.create(key="warranty_registered", name="保修登记")
    response = post_json(
        "/api/v1/events",
        {
            "type": "warranty_registered",
            "customer_external_id": "C-1",
            "occurred_at": "2026-10-08T09:30:00+08:00",
        },
    )
    assert response.status_code == 201


def test_a_time_without_offset_is_read_in_the_organisations_zone(
    post_json: Post, customer: Customer
) -> None:
    post_json("/api/v1/events", purchase(occurred_at="2026-10-08T09:30:00"))
    event = Event.objects.get(type="purchase")
    assert event.occurred_at == datetime(2026, 10, 8, 1, 30, tzinfo=UTC)


# --- Idempotency-Key header ----------------------------------------------------------------


def test_a_retried_post_gets_the_first_answer_and_writes_nothing(post_json: Post) -> None:
    body = {"customers": [{"external_id": "R1", "name": "甲"}]}
    first = post_json("/api/v1/customers/batch", body, HTTP_IDEMPOTENCY_KEY="retry-1")
    Customer.objects.filter(external_id="R1").update(name="changed since")
    again = post_json("/api/v1/customers/batch", body, HTTP_IDEMPOTENCY_KEY="retry-1")
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Customer.objects.get(external_id="R1").name == "changed since"


def test_a_key_reused_for_another_request_is_refused(post_json: Post) -> None:
    post_json("/api/v1/customers", {"external_id": "R1", "name": "甲"}, HTTP_IDEMPOTENCY_KEY="k")
    response = post_json(
        "/api/v1/customers", {"external_id": "R2", "name": "乙"}, HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 422
    assert error(response)["code"] == "idempotency_key_reused"
    assert not Customer.objects.filter(external_id="R2").exists()


def test_keys_belong_to_their_token(post_json: Post) -> None:
    post_json("/api/v1/customers", {"external_id": "R1", "name": "甲"}, HTTP_IDEMPOTENCY_KEY="k")
    _other, secret = ApiToken.issue(name="crm")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").post(
        "/api/v1/customers",
        {"external_id": "R2", "name": "乙"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert response.status_code == 201


# --- documentation and error shape ----------------------------------------------------------


@pytest.mark.django_db
def test_the_openapi_document_lists_the_endpoints() -> None:
    spec = Client().get("/api/openapi.json").json()
    assert {
        "/api/v1/customers",
        "/api/v1/customers/batch",
        "/api/v1/events",
        "/api/v1/events/batch",
    } <= set(spec["paths"])
    assert Client().get("/api/docs").status_code == 200


def test_a_wrongly_typed_field_is_named(post_json: Post) -> None:
    response = post_json(
        "/api/v1/customers", {"external_id": "C1", "name": "甲", "do_not_contact": "perhaps"}
    )
    assert response.status_code == 422
    body = error(response)
    assert body["code"] == "validation_error"
    assert any(d["field"] == "do_not_contact" for d in body["details"])


def test_malformed_json_gets_a_json_error(api: Client) -> None:
    response = api.post("/api/v1/customers", "{not json", content_type="application/json")
    assert response.status_code in {400, 422}
    assert error(response)["code"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/v1/nope", 404, "not_found"),
        ("put", "/api/v1/events", 405, "method_not_allowed"),
        ("delete", "/api/v1/customers", 405, "method_not_allowed"),
    ],
)
def test_unknown_paths_and_methods_answer_in_json(
    api: Client, method: str, path: str, status: int, code: str
) -> None:
    response = getattr(api, method)(path)
    assert response.status_code == status
    assert error(response)["code"] == code


# --- lists ----------------------------------------------------------------------------------


def test_customers_are_listed_masked_and_paged(api: Client, settings: Any, post_json: Post) -> None:
    settings.HUIFANG_PII_ATTRIBUTES = ["address"]
    for number in range(5):
        created = post_json(
            "/api/v1/customers",
            {
                "external_id": f"C{number}",
                "name": f"客户{number}",
                "phone": f"1380013800{number}",
                "tier": "vip" if number % 2 else "regular",
                "tags": ["会员"] if number == 3 else [],
                "attributes": {"address": "广东省深圳市南山区"},
            },
        )
        assert created.status_code == 201, created.content
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = api.get("/api/v1/customers", query).json()
        seen += [c["external_id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["C4", "C3", "C2", "C1", "C0"]
    text = api.get("/api/v1/customers").content.decode()
    assert "13800138000" not in text and "深圳市" not in text
    assert "138****8000" in text
    vip = api.get("/api/v1/customers", {"tier": "vip"}).json()["items"]
    assert [c["external_id"] for c in vip] == ["C3", "C1"]
    tagged = api.get("/api/v1/customers", {"tag": "会员"}).json()["items"]
    assert [(c["external_id"], c["tags"]) for c in tagged] == [("C3", ["会员"])]
    assert api.get("/api/v1/customers", {"cursor": "zz"}).status_code == 400


def test_events_are_listed_with_filters(api: Client, post_json: Post) -> None:
    post_json("/api/v1/customers", {"external_id": "C1", "name": "甲"})
    post_json("/api/v1/customers", {"external_id": "C2", "name": "乙"})
    for customer, key, day in (("C1", "a", "08"), ("C2", "b", "09"), ("C1", "c", "10")):
        body = purchase(key) | {
            "customer_external_id": customer,
            "occurred_at": f"2026-10-{day}T09:00:00+08:00",
        }
        assert post_json("/api/v1/events", body).status_code == 201
    listed = api.get("/api/v1/events", {"customer": "C1"}).json()["items"]
    assert [e["idempotency_key"] for e in listed] == ["c", "a"]
    after = api.get("/api/v1/events", {"occurred_after": "2026-10-09T00:00:00+08:00"}).json()
    assert [e["idempotency_key"] for e in after["items"]] == ["c", "b"]
    assert api.get("/api/v1/events", {"type": "visit"}).json()["items"] == []
