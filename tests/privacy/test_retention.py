"""Retention: past ``HUIFANG_RETENTION_MONTHS`` the words go (message texts, event properties'
text, providers' raw answers) and the figures stay (rows, times, amounts, scores, the derived
figures); the purge is idempotent, its dry run counts without writing, and 0 keeps all."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from huifang.customers.models import Customer, Event
from huifang.messaging.inbound import record_reply
from huifang.messaging.models import Attempt, Message
from huifang.privacy import tasks
from huifang.privacy.retention import months_before, purge
from tests.engine.world import World, local
from tests.rules.test_document import EXAMPLE

pytestmark = pytest.mark.django_db

FIGURES = ("order_count", "total_spend", "last_purchase_at", "last_reply_at", "complaint_count")
NOW = local("2026-12-07 10:00")


@pytest.fixture
def history() -> Customer:
    """A customer's cadence run in June 2025 (messages, a reply), and a purchase last week."""
    world = World(local("2025-06-02 10:00"))
    world.rule(EXAMPLE)
    customer = world.customer("王芳", tier="vip")
    world.event(customer, "purchase", amount=800, address="杭州市西湖区", note="放门卫")
    world.travel(local("2025-06-20 12:00"))
    first = Message.objects.filter(customer=customer).order_by("pk").first()
    assert first is not None
    record_reply(customer, "sms", "收到了，谢谢", message_id=first.pk, now=world.now)
    assert Attempt.objects.exclude(answer="").count() == 2  # the providers' answers
    world.clock.set(local("2026-11-30 10:00"))
    world.event(customer, "purchase", amount=300, address="杭州市滨江区")
    return customer


def test_old_words_go_and_the_figures_stay(history: Customer) -> None:
    figures = Customer.objects.filter(pk=history.pk).values(*FIGURES).get()
    with time_machine.travel(NOW, tick=False):
        done = purge(timezone.now(), months=12)
    assert done.cutoff == local("2025-12-07 10:00")
    assert (done.messages, done.attempts) == (2, 2)
    old = Event.objects.filter(customer=history, occurred_at__lt=done.cutoff)
    purchase = old.get(type="purchase")
    assert (purchase.properties, purchase.amount) == ({"amount": 800}, 800)
    reply = old.get(type="message_replied")
    assert reply.properties == {"channel": "sms", "message": reply.properties["message"]}
    recent = Event.objects.get(customer=history, type="purchase", occurred_at__gte=done.cutoff)
    assert recent.properties["address"] == "杭州市滨江区"
    assert set(Message.objects.values_list("body", "subject")) == {("", "")}
    assert set(Attempt.objects.values_list("answer", flat=True)) == {""}
    assert Message.objects.filter(customer=history, status="sent").count() == 2
    assert Customer.objects.filter(pk=history.pk).values(*FIGURES).get() == figures
    # Idempotent: nothing is left to purge.
    with time_machine.travel(NOW, tick=False):
        again = purge(timezone.now(), months=12)
    assert (again.events, again.messages, again.attempts) == (0, 0, 0)


def test_the_dry_run_counts_and_writes_nothing(history: Customer) -> None:
    before = list(Event.objects.values_list("properties", flat=True))
    with time_machine.travel(NOW, tick=False):
        counted = purge(timezone.now(), months=12, dry_run=True)
        assert list(Event.objects.values_list("properties", flat=True)) == before
        assert Message.objects.exclude(body="").count() == 2
        done = purge(timezone.now(), months=12)
    assert (counted.events, counted.messages, counted.attempts) == (
        done.events,
        done.messages,
        done.attempts,
    )
    assert done.events == 2  # the old purchase and the reply


def test_nothing_is_purged_while_retention_is_off(history: Customer, settings: Any) -> None:
    settings.RETENTION_MONTHS = 0
    with time_machine.travel(NOW, tick=False):
        assert purge(timezone.now()).cutoff is None
        assert tasks.purge_old_data.call_local() == 0
    assert Message.objects.exclude(body="").count() == 2
    settings.RETENTION_MONTHS = 12
    with time_machine.travel(NOW, tick=False):
        assert tasks.purge_old_data.call_local() == 2 + 2 + 2
    assert Message.objects.exclude(body="").count() == 0


def test_the_command(history: Customer, settings: Any) -> None:
    settings.RETENTION_MONTHS = 0
    out = io.StringIO()
    call_command("privacy", "purge", "--dry-run", stdout=out)
    assert "retention is off" in out.getvalue()
    with time_machine.travel(NOW, tick=False):
        call_command("privacy", "purge", "--dry-run", "--months", "12", stdout=out)
        said = out.getvalue()
        assert "would purge data before 2025-12-07 02:00 UTC: 2 events, 2 messages" in said
        assert Message.objects.exclude(body="").count() == 2
        call_command("privacy", "purge", "--months", "12", stdout=out)
    assert "purged data before" in out.getvalue()
    assert Message.objects.exclude(body="").count() == 0


@pytest.mark.parametrize(
    ("moment", "months", "expected"),
    [
        ("2026-03-31 08:00", 1, "2026-02-28 08:00"),
        ("2026-12-07 10:00", 12, "2025-12-07 10:00"),
        ("2026-01-15 00:00", 13, "2024-12-15 00:00"),
        ("2024-02-29 12:00", 12, "2023-02-28 12:00"),
    ],
)
def test_months_are_calendar_months(moment: str, months: int, expected: str) -> None:
    assert months_before(datetime.fromisoformat(moment), months) == datetime.fromisoformat(expected)
