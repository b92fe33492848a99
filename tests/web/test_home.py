"""The page after signing in: administrators see today's numbers and the first-day checklist,
ticked as each step holds; the other roles land on their own work."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huifang.accounts.roles import Role
from huifang.engine.lifecycle import activate
from huifang.integrations.models import Provider
from huifang.messaging.models import Message, MessageTemplate
from huifang.rules.document import load_rule_text
from huifang.rules.services import save_rule
from tests.conftest import make_staff
from tests.rules.test_document import EXAMPLE

pytestmark = pytest.mark.django_db


def ticks(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-step="(\w+)" data-done="(\w+)"', html))


def test_an_administrator_is_led_step_by_step_to_the_first_follow_up(
    alice_client: Client, customer: Any
) -> None:
    html = alice_client.get("/").content.decode()
    assert "第一天" in html
    assert ticks(html) == {
        "channel": "false", "template": "false", "strategy": "false", "activate": "false"
    }  # fmt: skip
    Provider.objects.create(kind="inapp", channel="staff", name="铃铛", enabled=True)
    assert ticks(alice_client.get("/").content.decode())["channel"] == "false"  # not a channel
    Provider.objects.create(kind="log", channel="sms", name="短信", enabled=True)
    MessageTemplate.objects.create(key="thanks", channel="sms", name="感谢")
    saved = save_rule(load_rule_text(EXAMPLE))
    assert ticks(alice_client.get("/").content.decode()) == {
        "channel": "true", "template": "true", "strategy": "true", "activate": "false"
    }  # fmt: skip
    activate(saved.rule, saved.version)
    assert set(ticks(alice_client.get("/").content.decode()).values()) == {"true"}


def test_today_counts_what_happened_today(alice_client: Client, customer: Any) -> None:
    now = timezone.now()
    for _n in range(3):
        Message.objects.create(
            customer=customer, status="delivered", channel="sms", channels=["sms"],
            template="t", planned_at=now, created_at=now, sent_at=now, delivered_at=now,
        )  # fmt: skip
    html = alice_client.get("/").content.decode()
    sent = re.search(r'data-number="sent".*?fs-3 fw-semibold">(\d+)<', html, re.S)
    assert sent is not None and sent.group(1) == "3"


def test_an_analyst_lands_on_the_cockpit(db: None) -> None:
    client = Client()
    client.force_login(make_staff("erin", Role.ANALYST))
    assert client.get("/")["Location"] == "/analytics/"
