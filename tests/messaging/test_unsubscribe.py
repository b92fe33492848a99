"""Unsubscribe links: a scanner's GET changes nothing; the customer's POST (or a mail client's
one-click POST, without cookies or CSRF token) withdraws consent, records it and cancels what
was pending."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huifang.customers.models import Consent, Customer, Event
from huifang.engine.models import DueStep, Enrollment
from huifang.messaging.models import Message, Reason
from huifang.messaging.unsubscribe import token_for
from tests.engine.world import World, local
from tests.rules.test_document import EXAMPLE

pytestmark = pytest.mark.django_db


def message(customer: Customer, channel: str = "sms", **fields: object) -> Message:
    now = timezone.now()
    values: dict[str, object] = {
        "status": Message.Status.SENT,
        "sent_at": now,
        "planned_at": now,
        "created_at": now,
        "template": "t",
        "channels": [channel],
        "channel": channel,
        **fields,
    }
    return Message.objects.create(customer=customer, **values)


@pytest.fixture
def customer(world: World) -> Customer:
    return world.customer("王芳", consent=("sms", "email"))


def url(sent: Message) -> str:
    return reverse("messaging:unsubscribe", args=[token_for(sent)])


def granted(customer: Customer) -> set[str]:
    return set(
        Consent.objects.filter(customer=customer, status=Consent.Status.GRANTED).values_list(
            "channel", flat=True
        )
    )


def test_opening_the_link_changes_nothing(customer: Customer) -> None:
    sent = message(customer)
    pending = message(customer, status=Message.Status.DEFERRED, sent_at=None)
    events = Event.objects.count()
    for agent in ("Mozilla/5.0", "Microsoft Office Existence Discovery", "Barracuda LinkScan"):
        page = Client(HTTP_USER_AGENT=agent).get(url(sent))
        assert page.status_code == 200
        assert "王芳" in page.content.decode()
    assert granted(customer) == {"sms", "email"}
    assert Message.objects.get(pk=pending.pk).status == Message.Status.DEFERRED
    assert Event.objects.count() == events


def test_confirming_withdraws_the_channel_and_cancels_what_was_pending(
    customer: Customer,
) -> None:
    sent = message(customer)
    held = message(customer, status=Message.Status.DEFERRED, sent_at=None)
    rule = World(local("2026-11-02 10:00")).rule(EXAMPLE)
    assert rule.current_version_id is not None
    enrollment = Enrollment.objects.create(
        rule=rule,
        version_id=rule.current_version_id,
        customer=customer,
        anchor="x",
        anchor_at=timezone.now(),
        started_at=timezone.now(),
    )
    retry = DueStep.objects.create(
        enrollment=enrollment,
        kind=DueStep.Kind.SEND,
        step="first",
        message=held,
        due_at=timezone.now() + timedelta(hours=8),
    )
    email = message(customer, "email", status=Message.Status.DEFERRED, sent_at=None)

    done = Client(enforce_csrf_checks=True, REMOTE_ADDR="203.0.113.9").post(
        url(sent), {"scope": "channel"}
    )

    assert done.status_code == 200
    assert granted(customer) == {"email"}
    withdrawn = Consent.objects.get(customer=customer, channel="sms")
    assert withdrawn.method == Consent.Method.UNSUBSCRIBE_LINK
    assert "203.0.113.9" in withdrawn.evidence
    held.refresh_from_db()
    assert (held.status, held.reason) == (Message.Status.CANCELLED, Reason.UNSUBSCRIBED)
    assert DueStep.objects.get(pk=retry.pk).status == DueStep.Status.CANCELLED
    assert Message.objects.get(pk=email.pk).status == Message.Status.DEFERRED  # other channel
    assert set(Event.objects.filter(customer=customer).values_list("type", flat=True)) >= {
        "consent_changed",
        "unsubscribed",
    }
    customer.refresh_from_db()
    assert not customer.do_not_contact


def test_one_click_post_from_a_mail_client_works_without_cookies_or_token(
    customer: Customer,
) -> None:
    sent = message(customer, "email")
    mail_client = Client(enforce_csrf_checks=True)
    answer = mail_client.post(
        url(sent),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    assert granted(customer) == {"sms"}


def test_everything_sets_do_not_contact_and_a_second_confirmation_changes_nothing(
    customer: Customer,
) -> None:
    sent = message(customer)
    client = Client(enforce_csrf_checks=True)
    assert client.post(url(sent), {"scope": "all"}).status_code == 200
    customer.refresh_from_db()
    assert customer.do_not_contact
    assert granted(customer) == set()
    changes = Event.objects.filter(customer=customer, type="consent_changed").count()
    client.post(url(sent), {"scope": "all"})
    assert Event.objects.filter(customer=customer, type="consent_changed").count() == changes


def test_unsubscribing_ends_plans_that_exit_on_it(world: World, customer: Customer) -> None:
    world.rule(EXAMPLE)  # exit: {on: [message_replied, unsubscribed, purchase]}
    customer.tier = "vip"
    customer.save()
    world.event(customer, "purchase", amount=800)
    enrollment = Enrollment.objects.get(customer=customer)
    Client().post(url(message(customer)), {"scope": "channel"})
    enrollment.refresh_from_db()
    assert enrollment.status == Enrollment.Status.EXITED


def test_the_page_speaks_the_customers_language(customer: Customer) -> None:
    sent = message(customer)
    assert "退订" in Client().get(url(sent)).content.decode()
    customer.language = "en"
    customer.save()
    assert "Unsubscribe" in Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get(url(sent)).content.decode()


def test_a_tampered_or_unknown_link_is_refused_politely(customer: Customer) -> None:
    sent = message(customer)
    token = token_for(sent)
    for bad in (token[:-2] + "xx", "nonsense", token.replace(":", "-", 1)):
        page = Client().post(reverse("messaging:unsubscribe", args=[bad]), {"scope": "all"})
        assert page.status_code == 404
    assert granted(customer) == {"sms", "email"}
    assert Client().put(url(sent)).status_code == 405


def test_links_are_the_ones_django_signing_makes_and_a_changed_secret_refuses_them(
    customer: Customer, settings: Any
) -> None:
    """The dispatcher signs with a kept signer (faster): its links are exactly what Django's
    ``signing.dumps`` makes, so links sent before still work, and they follow the secret."""
    sent = message(customer)
    with time_machine.travel(timezone.now(), tick=False):
        token = token_for(sent)
        assert token == signing.dumps(sent.pk, salt="huifang.unsubscribe", compress=True)
    assert signing.loads(token, salt="huifang.unsubscribe") == sent.pk
    assert Client().get(url(sent)).status_code == 200
    settings.SECRET_KEY = "another-secret-" * 4
    assert token_for(sent) != token
    page = Client().post(reverse("messaging:unsubscribe", args=[token]), {"scope": "all"})
    assert page.status_code == 404
    assert granted(customer) == {"sms", "email"}


# -- issue 17: links expire, and a replay records nothing -----------------------------------


def old_url(sent: Message, days: int) -> str:
    """The message's link as it was made ``days`` ago."""
    with time_machine.travel(timezone.now() - timedelta(days=days), tick=False):
        return url(sent)


def test_a_link_older_than_its_lifetime_changes_nothing_and_says_what_still_works(
    customer: Customer,
) -> None:
    sent = message(customer)
    expired = old_url(sent, 91)
    events = Event.objects.count()
    page = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get(expired)
    assert page.status_code == 410
    text = page.content.decode()
    assert "已过期" in text and "退订" in text and "90" in text
    client = Client(enforce_csrf_checks=True)
    assert client.post(expired, {"scope": "all"}).status_code == 410
    one_click = client.post(
        expired, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 410
    assert granted(customer) == {"sms", "email"}
    customer.refresh_from_db()
    assert not customer.do_not_contact
    assert Event.objects.count() == events


def test_the_expired_page_speaks_the_customers_language(customer: Customer) -> None:
    customer.language = "en"
    customer.save()
    page = Client(HTTP_ACCEPT_LANGUAGE="zh-hans").get(old_url(message(customer), 200))
    assert "This unsubscribe link has expired" in page.content.decode()


def test_the_lifetime_is_a_setting(customer: Customer, settings: Any) -> None:
    sent = message(customer)
    link = old_url(sent, 40)
    assert Client().get(link).status_code == 200  # 90 days by default
    settings.HUIFANG_UNSUBSCRIBE_LINK_DAYS = 30
    assert Client().get(link).status_code == 410


@pytest.mark.parametrize("scope", ["channel", "all"])
def test_a_replayed_confirmation_records_nothing_and_shows_the_same_page(
    customer: Customer, scope: str
) -> None:
    sent = message(customer)
    client = Client(enforce_csrf_checks=True)
    first = client.post(url(sent), {"scope": scope})
    rows = list(Consent.objects.filter(customer=customer).values_list("pk", "recorded_at"))
    events = Event.objects.filter(customer=customer).count()
    for _ in range(3):
        again = client.post(url(sent), {"scope": scope})
        assert again.status_code == 200
        assert again.content == first.content
    one_click = Client(enforce_csrf_checks=True).post(
        url(sent), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert one_click.status_code == 200
    assert Event.objects.filter(customer=customer).count() == events
    assert list(Consent.objects.filter(customer=customer).values_list("pk", "recorded_at")) == rows


def test_the_page_names_the_organisation_and_says_so_when_opened_again(
    customer: Customer,
) -> None:
    from huifang.organisation.services import forget, save_settings, settings_row

    row = settings_row()
    save_settings(
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        working_days=row.working_days,
        working_start=row.working_start,
        working_end=row.working_end,
        caps=[],
        sms_signature="",
        actor=None,
        name="悦家生活馆",
    )
    forget()
    sent, client = message(customer), Client()
    html = client.get(url(sent)).content.decode()
    assert "悦家生活馆" in html and "unsubscribed-already" not in html
    client.post(url(sent), {"scope": "channel"})
    again = client.get(url(sent)).content.decode()
    assert "您已退订短信" in again and 'id="scope-channel"' not in again
    assert 'id="scope-all"' in again  # what is left to stop
    client.post(url(sent), {"scope": "all"})
    last = client.get(url(sent)).content.decode()
    assert "您已退订：不会再收到悦家生活馆的任何消息" in last and "<form" not in last


def test_without_a_name_the_sms_signature_names_the_organisation(customer: Customer) -> None:
    from huifang.organisation.models import SETTINGS_PK, OrganisationSettings
    from huifang.organisation.services import forget

    OrganisationSettings.objects.create(pk=SETTINGS_PK, sms_signature="悦家")
    forget()
    html = Client().get(url(message(customer))).content.decode()
    assert "悦家" in html
