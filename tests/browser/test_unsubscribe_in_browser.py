"""A customer opens the unsubscribe link on a phone: the page names the business, the choice
is made with one tap, and opening the link again says it is done."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from huifang.messaging.unsubscribe import token_for
from huifang.organisation.models import SETTINGS_PK, OrganisationSettings
from huifang.organisation.services import forget
from tests.browser.fixtures import assert_fits
from tests.engine.world import World
from tests.messaging.test_unsubscribe import granted, message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_unsubscribing_on_a_phone_and_opening_the_link_again(
    live_server: Any, page: Page, world: World
) -> None:
    OrganisationSettings.objects.create(pk=SETTINGS_PK, name="悦家生活馆")
    forget()
    customer = world.customer("王芳", consent=("sms", "email"))
    link = live_server.url + reverse("messaging:unsubscribe", args=[token_for(message(customer))])
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(link)
    expect(page.locator("#organisation-name")).to_have_text("悦家生活馆")
    assert_fits(page, 390)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("已退订")
    assert granted(customer) == {"email"}
    page.goto(link)
    expect(page.locator("#unsubscribed-already")).to_contain_text("您已退订短信消息")
    expect(page.locator("#scope-all")).to_be_checked()
    assert_fits(page, 390)
