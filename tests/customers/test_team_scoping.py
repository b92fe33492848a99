"""With *Organisation settings → Privacy* on, agents and supervisors see only their teams'
customers — on the list, the customer page, its timeline, reveals and the message log — and
a follow-up's notes are for those who may see its task, whatever the setting."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huifang.accounts.models import Team
from huifang.accounts.roles import Role
from huifang.customers.models import Customer, Event
from huifang.messaging.models import Message
from huifang.organisation.models import OrganisationSettings
from huifang.organisation.services import forget
from huifang.tasks.models import Task
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def scoped(db: None) -> Iterator[None]:
    OrganisationSettings.objects.create(team_scoped_customers=True)
    forget()
    yield
    forget()


@pytest.fixture
def world(service_team: Team, bob: Any) -> dict[str, Customer]:
    sales = Team.objects.create(key="sales", name="销售组")
    erin = make_staff("erin", Role.AGENT, team=sales)
    dave = make_staff("dave", Role.AGENT, team=service_team)
    mine = Customer.objects.create(name="甲", phone="+8613800000001", owner=dave)
    tasked = Customer.objects.create(name="乙", phone="+8613800000002")
    theirs = Customer.objects.create(name="丙", phone="+8613800000003", owner=erin)
    now = timezone.now()
    Task.objects.create(customer=tasked, team=service_team, title="回访", created_at=now)
    other = Task.objects.create(customer=theirs, team=sales, title="回访", created_at=now)
    Event.objects.create(
        customer=theirs,
        type="followup_refused",
        occurred_at=now,
        properties={"task": other.pk, "outcome": "refused", "notes": "客户说了家里的私事"},
    )
    for customer in (mine, theirs):
        Message.objects.create(
            customer=customer,
            channel="sms",
            body=f"给{customer.name}",
            planned_at=now,
            created_at=now,
        )
    return {"mine": mine, "tasked": tasked, "theirs": theirs}


def names(client: Client) -> str:
    return client.get(reverse("customers:list")).content.decode()


def test_unscoped_an_agent_sees_every_customer_but_not_another_teams_notes(
    bob_client: Client, world: dict[str, Customer]
) -> None:
    listing = names(bob_client)
    assert all(c.name in listing for c in world.values())
    page = bob_client.get(reverse("customers:detail", args=[world["theirs"].pk])).content.decode()
    assert "refused" in page and "家里的私事" not in page


def test_scoped_an_agent_sees_only_the_teams_customers_everywhere(
    scoped: None, bob_client: Client, world: dict[str, Customer]
) -> None:
    listing = names(bob_client)
    assert "甲" in listing and "乙" in listing and "丙" not in listing
    theirs = world["theirs"].pk
    assert bob_client.get(reverse("customers:detail", args=[theirs])).status_code == 404
    assert bob_client.get(reverse("customers:timeline", args=[theirs])).status_code == 404
    assert bob_client.post(reverse("customers:reveal", args=[theirs, "phone"])).status_code == 404
    log = bob_client.get(reverse("messaging:messages")).content.decode()
    assert "给甲" in log or "甲" in log
    assert "丙" not in log
    message = Message.objects.get(customer_id=theirs)
    assert bob_client.get(reverse("messaging:message", args=[message.pk])).status_code == 404


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANALYST])
def test_scoped_administrators_and_analysts_still_see_everyone(
    scoped: None, world: dict[str, Customer], role: str
) -> None:
    client = Client()
    client.force_login(make_staff(f"u-{role}", role))
    listing = names(client)
    assert all(c.name in listing for c in world.values())
    page = client.get(reverse("customers:detail", args=[world["theirs"].pk]))
    assert page.status_code == 200
