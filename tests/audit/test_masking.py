"""Personal details are masked on every page and API answer by default (DESIGN.md invariant 9);
showing one in full is a deliberate, audited action, refused to analysts and limited per hour."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from huifang.accounts.models import ApiToken, TokenScope
from huifang.accounts.roles import Role
from huifang.audit.models import Entry
from huifang.customers.models import ContactPoint, Customer
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

PHONE = "+8613800138000"
FULL = ["13800138000", "138 0013 8000", "138-0013-8000", "wangxm@example.cn", "wm-ext-123456"]


@pytest.fixture
def wang(db: None) -> Customer:
    customer = Customer.objects.create(
        external_id="C-9",
        name="王小明",
        phone=PHONE,
        email="wangxm@example.cn",
        wecom_external_userid="wm-ext-123456",
    )
    ContactPoint.objects.create(customer=customer, kind="phone", value="+8613900139000")
    return customer


@pytest.fixture
def analyst_client(db: None) -> Client:
    client = Client()
    client.force_login(make_staff("dora", Role.ANALYST))
    return client


def shows_nothing_in_full(content: bytes) -> bool:
    text = content.decode()
    return not any(value in text for value in [*FULL, "13900139000"])


@pytest.mark.parametrize("who", ["alice_client", "bob_client", "carol_client", "analyst_client"])
def test_the_customer_list_and_page_mask_every_detail_for_every_role(
    who: str, request: Any, wang: Customer
) -> None:
    client: Client = request.getfixturevalue(who)
    listing = client.get(reverse("customers:list"))
    page = client.get(reverse("customers:detail", args=[wang.pk]))
    assert listing.status_code == page.status_code == 200
    assert "138****8000" in listing.content.decode()
    assert shows_nothing_in_full(listing.content)
    assert "138****8000" in page.content.decode() and "w***@example.cn" in page.content.decode()
    assert shows_nothing_in_full(page.content)
    assert not Entry.objects.filter(action=Entry.Action.REVEAL).exists()


def test_an_agent_reveals_one_field_and_the_reveal_is_recorded(
    bob_client: Client, wang: Customer
) -> None:
    url = reverse("customers:reveal", args=[wang.pk, "phone"])
    answer = bob_client.post(url, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert f'href="tel:{PHONE}"' in answer.content.decode()
    assert "no-store" in answer["Cache-Control"]
    [entry] = Entry.objects.filter(action=Entry.Action.REVEAL)
    assert (entry.actor, entry.verb, entry.object_id) == ("bob", "phone", str(wang.pk))
    assert PHONE not in str(entry.details)  # the log says what was shown, never the value


def test_a_further_number_is_revealed_by_its_own_button(bob_client: Client, wang: Customer) -> None:
    point = wang.contact_points.get()
    answer = bob_client.post(reverse("customers:reveal", args=[wang.pk, f"contact-{point.pk}"]))
    assert answer.status_code == 200 and "+8613900139000" in answer.content.decode()
    assert Entry.objects.get(action=Entry.Action.REVEAL).verb == f"contact-{point.pk}"


def test_an_analyst_cannot_reveal_and_nothing_is_written(
    analyst_client: Client, wang: Customer
) -> None:
    page = analyst_client.get(reverse("customers:detail", args=[wang.pk]))
    assert b"pii-reveal" not in page.content
    answer = analyst_client.post(reverse("customers:reveal", args=[wang.pk, "phone"]))
    assert answer.status_code == 403
    assert shows_nothing_in_full(answer.content)
    assert not Entry.objects.filter(action=Entry.Action.REVEAL).exists()


@pytest.mark.parametrize("field", ["name", "attributes", "contact-999999", "owner__password"])
def test_only_personal_detail_fields_can_be_revealed(
    bob_client: Client, wang: Customer, field: str
) -> None:
    answer = bob_client.post(reverse("customers:reveal", args=[wang.pk, field]))
    assert answer.status_code == 404
    assert not Entry.objects.filter(action=Entry.Action.REVEAL).exists()


def test_reveals_are_limited_per_user_per_hour(
    bob_client: Client, carol_client: Client, wang: Customer, settings: Any
) -> None:
    settings.HUIFANG_REVEALS_PER_HOUR = 3
    url = reverse("customers:reveal", args=[wang.pk, "email"])
    assert [bob_client.post(url).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = bob_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert "wangxm@example.cn" not in refused and "3" in refused
    assert Entry.objects.filter(action=Entry.Action.REVEAL, actor="bob").count() == 3
    assert carol_client.post(url).status_code == 200  # each user has their own allowance


def test_a_reason_is_asked_for_when_the_organisation_requires_one(
    bob_client: Client, wang: Customer, settings: Any
) -> None:
    settings.HUIFANG_REVEAL_REASON_REQUIRED = True
    url = reverse("customers:reveal", args=[wang.pk, "phone"])
    page = bob_client.get(reverse("customers:detail", args=[wang.pk]))
    assert b'name="reason"' in page.content
    assert bob_client.post(url).status_code == 400
    assert bob_client.post(url, {"reason": "  "}).status_code == 400
    assert not Entry.objects.filter(action=Entry.Action.REVEAL).exists()
    assert bob_client.post(url, {"reason": "customer called back"}).status_code == 200
    assert Entry.objects.get(action=Entry.Action.REVEAL).reason == "customer called back"


def test_the_api_answers_with_masked_details(api: Client, wang: Customer) -> None:
    body = api.get("/api/v1/customers/C-9").json()
    assert body["phone"] == "138****8000" and body["email"] == "w***@example.cn"


def test_the_api_reveals_one_detail_on_purpose_and_records_the_token(
    post_json: Any, wang: Customer
) -> None:
    body = {"field": "phone", "reason": "CRM sync"}
    # A token issued for writing customers and events (the default scope) may not.
    refused = post_json("/api/v1/customers/C-9/reveal", body)
    assert refused.status_code == 403 and PHONE not in refused.content.decode()
    assert not Entry.objects.filter(action=Entry.Action.REVEAL).exists()
    _token, secret = ApiToken.issue(name="crm sync", scope=TokenScope.REVEAL)
    crm = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    answer = crm.post("/api/v1/customers/C-9/reveal", body, content_type="application/json")
    assert answer.status_code == 200 and answer.json() == {"field": "phone", "value": PHONE}
    entry = Entry.objects.get(action=Entry.Action.REVEAL)
    assert entry.actor.startswith("API token crm sync") and entry.reason == "CRM sync"
    refused = crm.post(
        "/api/v1/customers/C-9/reveal", {"field": "attributes"}, content_type="application/json"
    )
    assert refused.status_code == 422 and PHONE not in refused.content.decode()


ADDRESS = "广东省东莞市南城区鸿福路 88 号"


@pytest.fixture
def with_address(wang: Customer) -> Customer:
    wang.attributes = {"地址": ADDRESS, "plan": "基础版"}
    wang.save(update_fields=["attributes"])
    return wang


@pytest.mark.parametrize("who", ["bob_client", "analyst_client"])
def test_a_personal_attribute_is_masked_on_the_page_and_shown_only_by_a_reveal(
    who: str, request: Any, with_address: Customer
) -> None:
    client: Client = request.getfixturevalue(who)
    page = client.get(reverse("customers:detail", args=[with_address.pk])).content.decode()
    assert ADDRESS not in page and "广东省****" in page and "基础版" in page
    field = "attributes.地址"
    url = reverse("customers:reveal", args=[with_address.pk, field])
    shown = client.post(url)
    if who == "analyst_client":
        assert shown.status_code == 403 and ADDRESS not in shown.content.decode()
        assert not Entry.objects.filter(action=Entry.Action.REVEAL).exists()
        return
    assert shown.status_code == 200 and ADDRESS in shown.content.decode()
    entry = Entry.objects.get(action=Entry.Action.REVEAL)
    assert entry.details["field"] == field and ADDRESS not in str(entry.details)
    # An attribute that is not personal is not a detail to reveal.
    other = client.post(reverse("customers:reveal", args=[with_address.pk, "attributes.plan"]))
    assert other.status_code == 404


def test_the_api_masks_personal_attributes_and_reveals_one_on_purpose(
    api: Client, with_address: Customer
) -> None:
    body = api.get("/api/v1/customers/C-9").json()
    assert body["attributes"] == {"地址": "广东省****", "plan": "基础版"}
    _token, secret = ApiToken.issue(name="crm sync", scope=TokenScope.REVEAL)
    crm = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def reveal(field: str) -> Any:
        return crm.post(
            "/api/v1/customers/C-9/reveal", {"field": field}, content_type="application/json"
        )

    assert reveal("attributes.地址").json() == {"field": "attributes.地址", "value": ADDRESS}
    assert reveal("attributes.plan").status_code == 422
    assert reveal("attributes.address").status_code == 404  # personal, but not this customer's
