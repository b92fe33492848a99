"""Editing a customer on their page: the profile, tags, owner and a note, audited by field name;
personal details stay masked in the form; a consent decision with its evidence. Bad input is
refused in the user's language with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.audit.models import Entry
from huifang.customers.models import Consent, Customer
from huifang.messaging.models import Message
from huifang.tasks.services import create_tasks
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def form_data(customer: Customer, **changes: Any) -> dict[str, Any]:
    data = {
        "name": customer.name,
        "gender": "",
        "birthday": "",
        "company": "",
        "province": "",
        "city": "",
        "source": "",
        "business_line": "",
        "tier": customer.tier,
        "lifecycle_stage": customer.lifecycle_stage,
        "time_zone": customer.time_zone,
        "language": customer.language,
        "preferred_channel": "",
        "note": "",
        "tags": "",
        "phone": "",
        "email": "",
        "wecom_external_userid": "",
    }
    data.update(changes)
    return data


def snapshot(customer: Customer) -> tuple[Any, ...]:
    row = dict(Customer.objects.filter(pk=customer.pk).values().get())
    row.pop("updated_at", None)
    return (row, sorted(customer.tags.values_list("name", flat=True)), Entry.objects.count())


def test_the_form_never_shows_the_full_number(alice_client: Client, customer: Customer) -> None:
    page = alice_client.get(f"/customers/{customer.pk}/edit/").content.decode()
    assert "138****8000" in page
    assert "13800138000" not in page and "138 0013 8000" not in page


def test_an_admin_edits_the_profile_tags_owner_and_note(
    alice_client: Client, customer: Customer, carol: Any
) -> None:
    response = alice_client.post(
        f"/customers/{customer.pk}/edit/",
        form_data(
            customer,
            city="杭州市",
            province="浙江省",
            tags="老客户，物流慢",
            owner=carol.pk,
            note="只在工作日下午联系",
            phone="139 0013 9000",
        ),
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.province, customer.city, customer.owner) == ("浙江省", "杭州市", carol)
    assert customer.phone == "+8613900139000" and customer.note == "只在工作日下午联系"
    assert sorted(customer.tags.values_list("name", flat=True)) == ["物流慢", "老客户"]
    entry = Entry.objects.get(action="customer")
    assert entry.details["fields"] == ["city", "note", "owner", "phone", "province", "tags"]
    assert "13900139000" not in str(entry.details)
    page = alice_client.get(f"/customers/{customer.pk}/").content.decode()
    assert "只在工作日下午联系" in page


def test_an_empty_contact_field_keeps_the_stored_value(
    alice_client: Client, customer: Customer
) -> None:
    alice_client.post(f"/customers/{customer.pk}/edit/", form_data(customer, company="华为"))
    customer.refresh_from_db()
    assert customer.phone == "+8613800138000" and customer.company == "华为"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("phone", "12345", "不是"),
        ("email", "not-an-email", "邮箱"),
        ("tags", "长" * 51, "标签"),
        ("time_zone", "Mars/Base", "时区"),
        ("name", "", "必填"),
    ],
)
def test_bad_input_is_refused_with_nothing_written(
    alice_client: Client, customer: Customer, field: str, value: str, says: str
) -> None:
    before = snapshot(customer)
    response = alice_client.post(
        f"/customers/{customer.pk}/edit/", form_data(customer, city="杭州市", **{field: value})
    )
    assert response.status_code == 400
    assert says in response.content.decode()
    assert snapshot(customer) == before


def test_an_agent_edits_a_customer_of_theirs_but_not_the_owner(
    service_team: Team, bob: Any, carol: Any, customer: Customer
) -> None:
    create_tasks([customer], title="回访", actor=carol, team=service_team, assignee=bob)
    client = Client()
    client.force_login(bob)
    page = client.get(f"/customers/{customer.pk}/edit/").content.decode()
    assert 'name="owner"' not in page
    client.post(f"/customers/{customer.pk}/edit/", form_data(customer, owner=carol.pk))
    customer.refresh_from_db()
    assert customer.owner is None


def test_an_analyst_cannot_edit(customer: Customer) -> None:
    client = Client()
    client.force_login(make_staff("ann", Role.ANALYST))
    assert client.get(f"/customers/{customer.pk}/edit/").status_code == 403
    assert client.post(f"/customers/{customer.pk}/consent/", {}).status_code == 403


def test_consent_is_recorded_with_its_evidence(alice_client: Client, customer: Customer) -> None:
    response = alice_client.post(
        f"/customers/{customer.pk}/consent/",
        {"channel": "sms", "status": "granted", "method": "verbal", "evidence": "电话中口头同意"},
    )
    assert response.status_code == 302
    consent = Consent.objects.get(customer=customer, channel="sms")
    assert (consent.status, consent.method, consent.evidence) == (
        "granted",
        "verbal",
        "电话中口头同意",
    )
    assert Entry.objects.filter(action="consent").count() == 1


def test_withdrawing_every_channel_stops_everything(
    alice_client: Client, customer: Customer
) -> None:
    now = timezone.now()
    pending = Message.objects.create(
        customer=customer,
        channel="sms",
        template="t",
        status="queued",
        planned_at=now,
        created_at=now,
    )
    alice_client.post(
        f"/customers/{customer.pk}/consent/",
        {"channel": "all", "status": "withdrawn", "method": "paper", "evidence": "书面要求"},
    )
    customer.refresh_from_db()
    pending.refresh_from_db()
    assert customer.do_not_contact and pending.status == "cancelled"
    # Granted again, with evidence: do-not-contact is lifted for that channel to work.
    alice_client.post(
        f"/customers/{customer.pk}/consent/",
        {"channel": "sms", "status": "granted", "method": "paper", "evidence": "重新签字同意"},
    )
    customer.refresh_from_db()
    assert not customer.do_not_contact


def test_a_decision_without_evidence_changes_nothing(
    alice_client: Client, customer: Customer
) -> None:
    response = alice_client.post(
        f"/customers/{customer.pk}/consent/",
        {"channel": "sms", "status": "withdrawn", "method": "verbal", "evidence": ""},
        follow=True,
    )
    assert "证据：此项为必填项。" in response.content.decode()
    assert not Consent.objects.filter(customer=customer).exists()
