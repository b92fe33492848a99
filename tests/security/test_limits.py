"""Limits on what one request can store (issue 17): custom attributes and event properties
(one customer page had reached 7.9 MB), JSON depth, batch sizes — each refusal names its limit
in the user's language, and nothing of a refused row is written."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from huifang.core.limits import Refusal, check_data, load_json, small_id
from huifang.customers.models import Customer, Event

pytestmark = pytest.mark.django_db


def error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _level in range(depth):
        value = {"x": value}
    return value


OVER = {
    "too_large": {f"k{i}": "长" * 1000 for i in range(10)},  # ~30 KB of UTF-8
    "too_many_keys": {f"k{i}": i for i in range(101)},
    "too_deep": nested(6),
    "string_too_long": {"note": "x" * 2001},
}


@pytest.mark.parametrize("code", sorted(OVER))
def test_customer_attributes_over_a_limit_are_refused(post_json: Any, code: str) -> None:
    response = post_json(
        "/api/v1/customers", {"external_id": "C1", "name": "甲", "attributes": OVER[code]}
    )
    assert response.status_code == 422, response.content
    assert (error(response)["code"], error(response)["field"]) == (code, "attributes")
    assert not Customer.objects.exists()


@pytest.mark.parametrize("code", sorted(OVER))
def test_event_properties_over_a_limit_are_refused(
    post_json: Any, customer: Customer, code: str
) -> None:
    response = post_json(
        "/api/v1/events",
        {
            "type": "visit",
            "customer_external_id": customer.external_id,
            "occurred_at": "2026-10-08T09:00:00+08:00",
            "properties": OVER[code],
        },
    )
    assert response.status_code == 422, response.content
    assert (error(response)["code"], error(response)["field"]) == (code, "properties")
    assert not Event.objects.exists()


def test_the_refusal_names_the_limit_in_the_users_language(post_json: Any) -> None:
    body = {"external_id": "C1", "name": "甲", "attributes": OVER["too_many_keys"]}
    en = error(post_json("/api/v1/customers", body, HTTP_ACCEPT_LANGUAGE="en"))
    zh = error(post_json("/api/v1/customers", body, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert en["message"] == "attributes may have at most 100 keys; this has 101."
    assert "100" in zh["message"] and zh["message"] != en["message"]


def test_attributes_within_the_limits_are_stored(post_json: Any) -> None:
    attributes = {"plan": "企业版", "seats": 50, "contacts": [{"name": "王", "role": "采购"}]}
    response = post_json(
        "/api/v1/customers", {"external_id": "C1", "name": "甲", "attributes": attributes}
    )
    assert response.status_code == 201
    assert Customer.objects.get().attributes == attributes


def test_patches_that_together_pass_a_limit_are_refused(post_json: Any, settings: Any) -> None:
    settings.HUIFANG_DATA_MAX_KEYS = 3
    first = {"external_id": "C1", "name": "甲", "attributes": {"a": 1, "b": 2}}
    assert post_json("/api/v1/customers", first).status_code == 201
    response = post_json(
        "/api/v1/customers", {"external_id": "C1", "name": "乙", "attributes": {"c": 3, "d": 4}}
    )
    assert response.status_code == 422
    assert error(response)["code"] == "too_many_keys"
    stored = Customer.objects.get()
    assert (stored.name, stored.attributes) == ("甲", {"a": 1, "b": 2})
    # Removing keys while adding others is judged on the result.
    swap = {"external_id": "C1", "attributes": {"a": None, "c": 3}}
    assert post_json("/api/v1/customers", swap).status_code == 200
    assert Customer.objects.get().attributes == {"b": 2, "c": 3}


def test_in_a_batch_only_the_row_over_the_limit_fails(post_json: Any) -> None:
    rows = [
        {"external_id": "C1", "name": "甲", "attributes": {"plan": "基础版"}},
        {"external_id": "C2", "name": "乙", "attributes": OVER["too_deep"]},
    ]
    response = post_json("/api/v1/customers/batch", {"customers": rows})
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["failed"]) == (1, 1)
    assert body["errors"][0]["index"] == 1 and body["errors"][0]["code"] == "too_deep"
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["C1"]


def test_any_json_body_deeper_than_the_limit_is_a_400(api: Client) -> None:
    depth = settings.HUIFANG_JSON_MAX_DEPTH
    body = {"external_id": "C1", "name": "甲", "attributes": nested(depth)}
    response = api.post("/api/v1/customers", json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert error(response)["code"] == "too_deep"
    assert str(depth) in error(response)["message"]
    assert not Customer.objects.exists()


def test_a_batch_over_its_row_limit_is_a_413(post_json: Any, settings: Any) -> None:
    settings.API_BATCH_MAX_ROWS = 3
    rows = [{"external_id": f"C{i}", "name": "甲"} for i in range(4)]
    response = post_json("/api/v1/customers/batch", {"customers": rows})
    assert response.status_code == 413
    assert error(response)["code"] == "batch_too_large"
    assert "3" in error(response)["message"]
    assert not Customer.objects.exists()


def test_the_checks_themselves() -> None:
    assert load_json(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    for bad in (b"NaN", b'{"a": Infinity}', b"[" * 50 + b"]" * 50, b'"\\u0000"', b"\xff"):
        with pytest.raises(Refusal):
            load_json(bad)
    with pytest.raises(Refusal):
        check_data({"x": float("nan")}, path="properties")
    with pytest.raises(Refusal):
        check_data({"x\x00": 1}, path="properties")
    check_data(nested(5), path="attributes")
    assert small_id("42") == 42
    for text in ("0", "-1", "²", "١", "9" * 19, "9" * 30, "", "4 2", None):
        assert small_id(text) is None
