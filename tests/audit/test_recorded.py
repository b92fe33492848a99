"""What the audit log records: sign-in and failures, reveals, tokens, rules, templates,
providers, settings, consent and admin changes — and that the admin cannot rewrite the
records it covers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huifang.accounts.models import ApiToken
from huifang.audit.models import Entry
from huifang.audit.services import verify
from huifang.customers.consent import withdraw_consent
from huifang.customers.models import Consent, Customer
from huifang.messaging.models import Message
from huifang.messaging.services import save_template
from huifang.rules.models import Rule
from huifang.tasks.models import Task
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(db: None) -> Client:
    """A superuser: Django's own permissions allow everything, so only our admin refuses."""
    client = Client()
    client.force_login(
        get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    )
    return client


def entries(action: str) -> list[Entry]:
    return list(Entry.objects.filter(action=action).order_by("seq"))


def test_sign_in_and_a_failed_sign_in_are_recorded_without_the_password(alice: Any) -> None:
    client = Client()
    client.post(reverse("login"), {"username": "alice", "password": "wrong one"})
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    failed = entries(Entry.Action.SIGN_IN_FAILED)
    assert [e.details["username"] for e in failed] == ["alice"]
    assert failed[0].ip == "127.0.0.1"
    assert "wrong one" not in str([(e.details, e.object_repr, e.reason) for e in failed])
    assert [e.actor for e in entries(Entry.Action.SIGN_IN)] == ["alice"]
    assert verify()[1] is None


def test_issuing_and_revoking_a_token_is_recorded_and_the_admin_cannot_unrevoke(
    alice: Any, alice_client: Client, root_client: Client
) -> None:
    alice_client.post(reverse("accounts:tokens"), {"name": "ERP"})
    token = ApiToken.objects.get(name="ERP")
    alice_client.post(reverse("accounts:revoke_token", args=[token.pk]))
    assert [(e.verb, e.actor) for e in entries(Entry.Action.TOKEN)] == [
        ("issued", "alice"),
        ("revoked", "alice"),
    ]
    token.refresh_from_db()
    revoked_at = token.revoked_at
    change = reverse("admin:accounts_apitoken_change", args=[token.pk])
    answer = root_client.post(change, {"name": "ERP", "revoked_at_0": "", "revoked_at_1": ""})
    token.refresh_from_db()
    assert answer.status_code == 403
    assert token.revoked_at == revoked_at is not None


def test_the_admin_cannot_edit_sent_messages_or_consent_or_delete_tasks(
    root_client: Client, customer: Customer
) -> None:
    message = Message.objects.create(
        customer=customer,
        channel="sms",
        status="sent",
        body="hi",
        planned_at=timezone.now(),
        created_at=timezone.now(),
    )
    answer = root_client.post(
        reverse("admin:outbox_message_change", args=[message.pk]), {"body": "rewritten"}
    )
    assert answer.status_code == 403
    message.refresh_from_db()
    assert message.body == "hi"
    assert (
        root_client.post(
            reverse("admin:outbox_message_delete", args=[message.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert Message.objects.filter(pk=message.pk).exists()
    page = root_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert page.status_code == 200
    assert b"+8613800138000" not in page.content  # masked in the admin too
    assert b'name="consents-0-status"' not in page.content  # consent is shown, not edited


def test_consent_changes_are_recorded(customer: Customer) -> None:
    withdraw_consent(customer, ["sms"], method=Consent.Method.VERBAL, evidence="asked on the phone")
    [entry] = entries(Entry.Action.CONSENT)
    assert entry.details == {"channel": "sms", "from": "", "to": "withdrawn", "method": "verbal"}
    assert entry.object_id == str(customer.pk)


def test_template_saves_are_recorded(alice: Any) -> None:
    save_template("thanks", "sms", name="Thanks", body="谢谢 {{ 客户姓名 }}", actor=alice)
    [entry] = entries(Entry.Action.TEMPLATE)
    assert (entry.verb, entry.actor, entry.details["version"]) == ("saved", "alice", 1)


def test_admin_changes_are_copied_into_the_chain(root_client: Client) -> None:
    answer = root_client.post(
        reverse("admin:customers_tag_add"), {"name": "vip-2026", "color": "secondary"}
    )
    assert answer.status_code == 302
    [entry] = entries(Entry.Action.ADMIN)
    assert (entry.verb, entry.actor, entry.object_type) == ("added", "root", "customers.tag")


def test_the_audit_page_is_for_administrators_and_checks_the_chain(
    alice_client: Client, bob_client: Client, carol_client: Client
) -> None:
    assert bob_client.get(reverse("audit")).status_code == 403
    assert carol_client.get(reverse("audit")).status_code == 403
    page = alice_client.get(reverse("audit"), {"verify": "1", "action": "sign_in"})
    assert page.status_code == 200
    assert b'id="chain-status"' in page.content and b"alert-success" in page.content
    assert b"alice" in page.content


def test_a_call_reveal_outlives_its_task_and_the_admin_cannot_delete_the_task(
    bob: Any, bob_client: Client, root_client: Client, customer: Customer, service_team: Any
) -> None:
    task = Task.objects.create(
        customer=customer, team=service_team, title="回访", assignee=bob, created_at=timezone.now()
    )
    answer = bob_client.post(reverse("tasks:phone", args=[task.pk]))
    assert answer.status_code == 200 and "tel:+8613800138000" in answer.content.decode()
    refused = root_client.post(reverse("admin:tasks_task_delete", args=[task.pk]), {"post": "yes"})
    assert refused.status_code == 403 and Task.objects.filter(pk=task.pk).exists()
    pk = task.pk
    task.delete()  # even by other means: the record of the reveal is not the task's
    [entry] = entries(Entry.Action.REVEAL)
    assert (entry.actor, entry.verb, entry.details["where"]) == ("bob", "phone", f"task {pk}")
    assert verify()[1] is None


def test_the_admin_shows_a_rules_status_but_does_not_change_it(root_client: Client) -> None:
    rule = Rule.objects.create(key="r1", name="R1", status=Rule.Status.DRAFT)
    root_client.post(
        reverse("admin:rules_rule_change", args=[rule.pk]),
        {
            "key": "r1",
            "name": "R1",
            "status": "active",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )
    rule.refresh_from_db()
    assert rule.status == Rule.Status.DRAFT
