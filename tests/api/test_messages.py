"""The messages and templates API: what was sent, how it stands and every hand-off to its
provider, with the customer's phone and e-mail masked wherever they appear."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huifang.customers.models import Customer
from huifang.messaging.models import Attempt, Message
from huifang.messaging.services import save_template
from huifang.rules.models import Rule
from tests.api.helpers import error_of, walk

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper(db: None) -> Customer:
    return Customer.objects.create(
        external_id="C-1", name="王小明", phone="+8613800138000", email="wang@example.cn"
    )


def message(customer: Customer | None, **fields: Any) -> Message:
    now = timezone.now()
    values: dict[str, Any] = {
        "customer": customer,
        "status": Message.Status.SENT,
        "template": "thanks",
        "channel": "sms",
        "channels": ["sms"],
        "planned_at": now,
        "created_at": now,
        **fields,
    }
    return Message.objects.create(**values)


def test_it_lists_messages_with_filters(reader: Client, shopper: Customer) -> None:
    rule = Rule.objects.create(key="welcome", name="欢迎")
    other = Customer.objects.create(external_id="C-2", name="李四")
    now = timezone.now()
    sms = message(shopper, rule=rule)
    mail = message(other, channel="email", channels=["email"], status=Message.Status.FAILED)
    old = message(shopper, planned_at=now - timedelta(days=10))

    def ids(**query: Any) -> list[int]:
        response = reader.get("/api/v1/messages", query)
        assert response.status_code == 200, response.content
        return [m["id"] for m in response.json()["items"]]

    assert ids() == [old.pk, mail.pk, sms.pk]
    assert ids(status="failed") == [mail.pk]
    assert ids(channel="sms") == [old.pk, sms.pk]
    assert ids(customer="C-2") == [mail.pk]
    assert ids(rule="welcome") == [sms.pk]
    assert ids(planned_before=(now - timedelta(days=1)).isoformat()) == [old.pk]
    assert ids(planned_after=(now - timedelta(days=1)).isoformat()) == [mail.pk, sms.pk]
    assert reader.get("/api/v1/messages", {"channel": "pigeon"}).status_code == 422


def test_the_cursor_walks_every_message_once(reader: Client, shopper: Customer) -> None:
    made = [message(shopper).pk for _ in range(7)]
    for limit in (1, 2, 3, 7, 8):
        assert [m["id"] for m in walk(reader, "/api/v1/messages", limit)] == made[::-1]
    assert reader.get("/api/v1/messages", {"cursor": "x"}).status_code == 400


def test_a_message_shows_its_attempts_with_personal_details_masked(
    reader: Client, shopper: Customer
) -> None:
    sent = message(
        shopper,
        body="王小明您好，您的手机 +8613800138000 已登记",
        attempts=2,
        error="",
    )
    now = timezone.now()
    Attempt.objects.create(
        message=sent,
        number=1,
        transport="sms",
        started_at=now,
        finished_at=now,
        outcome=Attempt.Outcome.TRANSIENT,
        error="timeout for wang@example.cn",
        answer='{"to": "+8613800138000"}',
    )
    Attempt.objects.create(
        message=sent, number=2, transport="sms", started_at=now, outcome=Attempt.Outcome.SENT
    )
    response = reader.get(f"/api/v1/messages/{sent.pk}")
    assert response.status_code == 200, response.content
    body = response.json()
    text = response.content.decode()
    assert "13800138000" not in text and "wang@example.cn" not in text
    assert body["status"] == "sent"
    assert [a["outcome"] for a in body["attempt_log"]] == ["transient", "sent"]
    assert "138****8000" in body["body"]
    missing = reader.get(f"/api/v1/messages/{sent.pk + 1}")
    assert error_of(missing)["code"] == "unknown_message"


def test_templates_are_listed_and_read(reader: Client) -> None:
    save_template("thanks", "sms", name="感谢", body="谢谢 {{ 客户姓名 }}")
    save_template("welcome", "email", name="欢迎", body="欢迎", subject="你好")
    listed = reader.get("/api/v1/templates").json()
    assert [t["key"] for t in listed["items"]] == ["welcome", "thanks"]
    assert [
        t["key"] for t in reader.get("/api/v1/templates", {"channel": "sms"}).json()["items"]
    ] == ["thanks"]
    one = reader.get(f"/api/v1/templates/{listed['items'][1]['id']}").json()
    assert (one["name"], one["body"], one["version"]) == ("感谢", "谢谢 {{ 客户姓名 }}", 1)
    assert reader.get("/api/v1/templates/999999").status_code == 404


def test_reading_needs_a_token(shopper: Customer) -> None:
    sent = message(shopper)
    for path in ("/api/v1/messages", f"/api/v1/messages/{sent.pk}", "/api/v1/templates"):
        response = Client().get(path)
        assert response.status_code == 401
        assert error_of(response)["code"] == "not_authenticated"
