"""The subscription pages: administrators only; the URL checked by the outbound guard at
save; the secret stored encrypted and never shown; send test, pause, resume, delete and
replay audited; the delivery log shows payloads with contact details masked."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from huifang.audit.models import Entry
from huifang.customers.models import Customer
from huifang.subscriptions import delivery
from huifang.subscriptions.models import Delivery, Subscription
from huifang.tasks.services import create_tasks

from .conftest import WallClock, subscribe
from .receiver import SECRET, inbox

pytestmark = pytest.mark.django_db


def form(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "订单系统",
        "url": url,
        "event_types": ["task.completed", "customer.unsubscribed"],
        "secret": SECRET,
        "active": "on",
        **extra,
    }


def entries(verb: str) -> list[Entry]:
    return list(Entry.objects.filter(verb=verb).order_by("seq"))


def test_only_administrators_open_the_pages(carol_client: Client, bob_client: Client) -> None:
    subscription = subscribe("https://hooks.example.com/", "task.created")
    for client in (carol_client, bob_client):
        for url in (
            reverse("subscriptions:list"),
            reverse("subscriptions:add"),
            reverse("subscriptions:log", args=[subscription.pk]),
        ):
            assert client.get(url).status_code == 403
        answer = client.post(reverse("subscriptions:pause", args=[subscription.pk]))
        assert answer.status_code == 403
    subscription.refresh_from_db()
    assert subscription.active
    assert Client().get(reverse("subscriptions:list")).status_code == 302


def test_the_settings_menu_offers_it_to_administrators(
    alice_client: Client, carol_client: Client
) -> None:
    url = reverse("subscriptions:list")
    assert f'href="{url}"' in alice_client.get("/").content.decode()
    assert f'href="{url}"' not in carol_client.get("/").content.decode()


def test_an_administrator_adds_a_subscription_its_secret_sealed(
    alice_client: Client, receiver: str
) -> None:
    answer = alice_client.post(reverse("subscriptions:add"), form(receiver))
    subscription = Subscription.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == reverse("subscriptions:log", args=[subscription.pk])
    assert subscription.event_types == ["task.completed", "customer.unsubscribed"]
    assert subscription.created_by is not None and subscription.created_by.username == "alice"
    assert SECRET not in subscription.sealed and subscription.secret() == SECRET
    (added,) = entries("subscription added")
    assert SECRET not in str(added.details)
    page = alice_client.get(reverse("subscriptions:edit", args=[subscription.pk]))
    assert SECRET not in page.content.decode()
    # Left blank, the secret stays as it was.
    alice_client.post(
        reverse("subscriptions:edit", args=[subscription.pk]), form(receiver, secret="", name="新")
    )
    subscription.refresh_from_db()
    assert (subscription.name, subscription.secret()) == ("新", SECRET)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event_types": []}, "event_types"),
        ({"secret": ""}, "secret"),
        ({"secret": "short"}, "secret"),
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "https://"}, "url"),
        ({"name": ""}, "name"),
        ({"event_types": ["task.deleted"]}, "event_types"),
    ],
)
def test_bad_input_is_refused_and_nothing_saved(
    alice_client: Client, changes: dict[str, Any], field: str
) -> None:
    answer = alice_client.post(
        reverse("subscriptions:add"), form("https://93.184.215.14/") | changes
    )
    assert answer.status_code == 200
    assert field in answer.context["form"].errors
    assert Subscription.objects.count() == 0
    assert not entries("subscription added")


def test_an_internal_address_is_refused_at_save_unless_allowed(
    alice_client: Client, settings: Any
) -> None:
    settings.HUIFANG_OUTBOUND_ALLOW = []
    answer = alice_client.post(reverse("subscriptions:add"), form("http://10.1.2.3:8080/hook"))
    (error,) = answer.context["form"].errors["url"]
    assert "10.1.2.3" in error and "OUTBOUND_HTTP_ALLOW" in error
    assert Subscription.objects.count() == 0
    (blocked,) = Entry.objects.filter(action=Entry.Action.OUTBOUND)
    assert blocked.details["via"] == "subscription form" and blocked.actor == "alice"

    settings.HUIFANG_OUTBOUND_ALLOW = ["10.0.0.0/8"]
    alice_client.post(reverse("subscriptions:add"), form("http://10.1.2.3:8080/hook"))
    assert Subscription.objects.get().url == "http://10.1.2.3:8080/hook"


def test_send_test_reaches_the_receiver_and_shows_in_the_log(
    alice_client: Client, receiver: str
) -> None:
    subscription = subscribe(receiver, "task.completed")
    answer = alice_client.post(reverse("subscriptions:test", args=[subscription.pk]), follow=True)
    (request,) = inbox.requests
    assert request.verified and request.body["type"] == "subscription.test"
    row = Delivery.objects.get()
    assert (row.status, row.last_status, row.attempts) == ("delivered", 200, 1)
    page = answer.content.decode()
    assert f'id="delivery-{row.pk}"' in page and "HTTP 200" in page
    assert entries("subscription tested")


def test_a_failed_test_is_not_retried(alice_client: Client, receiver: str) -> None:
    subscription = subscribe(receiver, "task.completed")
    inbox.failures = 1
    alice_client.post(reverse("subscriptions:test", args=[subscription.pk]))
    row = Delivery.objects.get()
    assert (row.status, row.last_status, row.next_attempt_at) == ("given_up", 503, None)


def test_the_log_masks_contact_details_and_a_replay_is_a_new_audited_delivery(
    alice_client: Client, receiver: str, bob: Any, customer: Customer, clock: WallClock
) -> None:
    subscription = subscribe(receiver, "task.created")
    create_tasks([customer], title="回访", actor=bob, team=None)
    delivery.run_until_idle(clock)
    original = Delivery.objects.get()
    page = alice_client.get(reverse("subscriptions:log", args=[subscription.pk])).content.decode()
    assert "138****8000" in page and "13800138000" not in page
    assert str(original.event_id) in page

    url = reverse("subscriptions:replay", args=[subscription.pk, original.pk])
    alice_client.post(url)
    copy = Delivery.objects.exclude(pk=original.pk).get()
    assert (copy.event_id, copy.replay_of_id, copy.status) == (
        original.event_id,
        original.pk,
        "pending",
    )
    (replayed,) = entries("subscription replayed")
    assert replayed.details["delivery"] == original.pk and replayed.actor == "alice"
    delivery.run_until_idle(clock)
    assert [r.body["id"] for r in inbox.accepted] == [str(original.event_id)] * 2
    # Another subscription's delivery cannot be replayed through this one's address.
    other = subscribe(receiver, "task.created", name="别的")
    answer = alice_client.post(reverse("subscriptions:replay", args=[other.pk, original.pk]))
    assert answer.status_code == 404


def test_pause_resume_and_delete_are_audited(alice_client: Client) -> None:
    subscription = subscribe("https://hooks.example.com/", "task.created")
    alice_client.post(reverse("subscriptions:pause", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert not subscription.active
    alice_client.post(reverse("subscriptions:resume", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert subscription.active
    confirm = alice_client.get(reverse("subscriptions:delete", args=[subscription.pk]))
    assert confirm.status_code == 200
    alice_client.post(reverse("subscriptions:delete", args=[subscription.pk]))
    assert Subscription.objects.count() == 0
    verbs = ["subscription paused", "subscription resumed", "subscription deleted"]
    assert [e.verb for e in Entry.objects.filter(verb__in=verbs).order_by("seq")] == verbs


def test_the_list(alice_client: Client) -> None:
    subscribe("https://hooks.example.com/", "task.created")
    page = alice_client.get(reverse("subscriptions:list")).content.decode()
    assert "订单系统" in page and "https://hooks.example.com/" in page
