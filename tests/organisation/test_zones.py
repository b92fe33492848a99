"""One time-zone helper: a customer's zone decides their local date in templates and their
quiet hours at the gate alike, whatever the organisation's own zone; names that are not zones
are refused wherever a zone is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin.sites import site
from django.core.exceptions import ValidationError
from django.test import Client

from huifang.accounts.models import StaffProfile, Team
from huifang.customers.models import Customer, Event
from huifang.customers.services import upsert_customers
from huifang.messaging.models import Message
from huifang.messaging.rendering import Context, render
from huifang.messaging.services import save_template
from huifang.organisation.zones import customer_zone, organisation_zone, zone
from tests.engine.world import World

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")

RULE = """
key: thank-you
name: 购买感谢
trigger: {kind: event, event: purchase}
policy:
  quiet_hours: {start: "21:00", end: "08:00"}
steps:
  - id: thanks
    send: {channel: sms, template: thanks}
"""


def test_a_new_york_customer_is_judged_and_written_to_on_new_york_time(settings: Any) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    # 21:30 on 5 November in New York is 03:30 on the 6th in Berlin.
    bought = datetime(2026, 11, 5, 21, 30, tzinfo=NEW_YORK)
    world = World(bought)
    save_template("thanks", "sms", name="thanks", body="您{{购买日期}}的订单已收到")
    world.rule(RULE)
    customer = world.customer("Ann", zone="America/New_York", consent=("sms",))
    world.event(customer, "purchase", at=bought, amount=120)
    world.run()

    held = Message.objects.get(customer=customer)
    assert held.status == Message.Status.DEFERRED
    assert held.deferred_until == datetime(2026, 11, 6, 8, 0, tzinfo=NEW_YORK)  # not Berlin's 08:00

    world.travel(datetime(2026, 11, 6, 8, 0, tzinfo=NEW_YORK))
    sent = Message.objects.get(customer=customer)
    assert sent.status == Message.Status.SENT
    assert sent.body == "您2026-11-05的订单已收到"  # New York's date, not Berlin's 6 November


def test_a_zone_stored_before_names_were_checked_falls_back_to_the_organisations(
    settings: Any,
) -> None:
    """The gate and the templates read the same helper, so they cannot disagree."""
    settings.TIME_ZONE = "Europe/Berlin"
    customer = Customer(name="x", time_zone="Mars/Olympus")
    assert customer_zone(customer) == ZoneInfo("Europe/Berlin") == organisation_zone()
    assert zone("") == zone(None) == zone("localtime") == ZoneInfo("Europe/Berlin")


NOT_ZONES = ["localtime", "Factory", "Mars/Olympus", "asia/shanghai ", "+08:00"]


@pytest.mark.parametrize("name", NOT_ZONES)
def test_the_api_and_imports_refuse_a_name_that_is_not_a_zone(name: str) -> None:
    result = upsert_customers([{"external_id": "z-1", "name": "x", "time_zone": name}])
    assert [(e.code, e.field) for e in result.errors] == [("invalid_time_zone", "time_zone")]
    assert "Asia/Shanghai" in result.errors[0].message
    assert not Customer.objects.filter(external_id="z-1").exists()


@pytest.mark.parametrize("name", NOT_ZONES)
def test_models_and_forms_refuse_a_name_that_is_not_a_zone(name: str) -> None:
    for row in (
        Customer(name="x", external_id="z-2", time_zone=name),
        Team(name="t", time_zone=name),
    ):
        with pytest.raises(ValidationError) as refused:
            row.full_clean()
        assert "time_zone" in refused.value.message_dict
    field = StaffProfile._meta.get_field("time_zone")
    with pytest.raises(ValidationError):
        field.run_validators(name)


def test_the_admin_refuses_a_name_that_is_not_a_zone(admin_client: Client) -> None:
    assert Customer in site._registry
    answer = admin_client.post(
        "/admin/customers/customer/add/",
        {"name": "x", "external_id": "z-3", "time_zone": "localtime", "tier": "regular"},
    )
    assert answer.status_code == 200  # the form again, with the error
    assert "time_zone" in answer.context["adminform"].form.errors
    assert not Customer.objects.filter(external_id="z-3").exists()


def test_a_real_zone_is_accepted_everywhere() -> None:
    result = upsert_customers([{"external_id": "z-4", "name": "x", "time_zone": "Europe/Berlin"}])
    assert not result.errors
    Customer.objects.get(external_id="z-4").full_clean()


def test_templates_fall_back_to_the_organisations_zone_like_the_gate(settings: Any) -> None:
    """Before, templates fell back to a hard-coded Asia/Shanghai and the gate to TIME_ZONE."""
    settings.TIME_ZONE = "America/New_York"
    late = datetime(2026, 11, 5, 22, 0, tzinfo=NEW_YORK)  # already the 6th in Shanghai
    for stored in ("", "Factory"):
        customer = Customer(name="x", time_zone=stored)
        text = render("{{购买日期}}", Context(customer, event=Event(occurred_at=late), now=late))
        assert text == "2026-11-05"


@pytest.mark.parametrize("name", ["localtime", "Factory"])
def test_the_api_answers_a_clear_error_for_a_name_that_is_not_a_zone(
    post_json: Any, name: str
) -> None:
    answer = post_json(
        "/api/v1/customers",
        {"external_id": "z-5", "name": "x", "time_zone": name},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_time_zone", "time_zone")
    assert "时区" in error["message"]
    assert not Customer.objects.filter(external_id="z-5").exists()
