"""Taking back "wrong number" and "refused further contact": the outcome form asks to confirm
them, and whoever recorded one can undo it for ten minutes — the task opens again, the phone
is no longer flagged, each channel's consent is what it was (with its original evidence), and
do-not-contact too; audited and on the timeline. Later, or by someone else, it is refused with
nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huifang.accounts.models import Team
from huifang.audit.models import Entry as AuditEntry
from huifang.customers.models import Channel, Consent, ContactPoint, Customer
from huifang.tasks.forms import OutcomeForm
from huifang.tasks.history import lines
from huifang.tasks.models import Task, TaskEvent
from huifang.tasks.outcomes import UNDO_WINDOW, Report, record, undo

from .helpers import a_customer, agent, local, open_one

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

OPENED = local("2026-11-02 10:00")
CALL = local("2026-11-02 11:00")


def consent_rows(customer: Customer) -> dict[str, tuple[str, str, str]]:
    return {
        c.channel: (c.status, c.method, c.evidence)
        for c in Consent.objects.filter(customer=customer)
    }


def customer_flags(customer: Customer) -> tuple[Any, ...]:
    return tuple(
        Customer.objects.filter(pk=customer.pk)
        .values_list("do_not_contact", "do_not_contact_at", "do_not_contact_reason")
        .get()
    )


def granted(customer: Customer, *channels: str) -> None:
    for channel in channels:
        Consent.objects.create(
            customer=customer,
            channel=channel,
            status=Consent.Status.GRANTED,
            recorded_at=OPENED,
            method=Consent.Method.PAPER,
            evidence="签字的同意书 2026-10-01",
        )


@pytest.fixture
def task(service_team: Team, bob: Any, customer: Customer) -> Task:
    return open_one(customer, service_team, now=OPENED, title="回访 王小明")


@pytest.mark.parametrize("outcome", ["wrong_number", "refused"])
def test_the_form_asks_to_confirm_what_withdraws_consent(outcome: str) -> None:
    form = OutcomeForm({"outcome": outcome, "notes": "x"})
    assert form.is_valid()
    with pytest.raises(ValidationError) as refused:
        record(Task(), form.report(), actor=None, now=CALL)
    assert "confirm" in refused.value.message_dict
    assert "withdraws the customer's consent" in refused.value.message_dict["confirm"][0]
    assert OutcomeForm({"outcome": outcome, "confirm": "on"}).is_valid()


def test_the_form_does_not_ask_for_other_outcomes(task: Task, bob: Any) -> None:
    form = OutcomeForm({"outcome": "not_reached"})
    assert form.is_valid()
    record(task, form.report(), actor=bob, now=CALL)
    assert task.outcome == "not_reached"


@pytest.mark.parametrize("outcome", ["wrong_number", "refused"])
def test_undo_puts_everything_back(task: Task, bob: Any, customer: Customer, outcome: str) -> None:
    granted(customer, Channel.SMS, Channel.PHONE)
    before = (consent_rows(customer), customer_flags(customer))
    record(task, Report(outcome=outcome, notes="对方说打错了", tags=["打错"]), actor=bob, now=CALL)
    assert task.is_closed
    assert consent_rows(customer)[Channel.SMS][0] == "withdrawn"

    restored = undo(task, actor=bob, now=CALL + timedelta(minutes=9))

    task.refresh_from_db()
    assert (task.status, task.outcome, task.closed_at, task.attempts) == ("open", "", None, 0)
    assert (task.notes, task.tags) == ("", [])
    assert (consent_rows(customer), customer_flags(customer)) == before
    assert set(restored) >= {Channel.SMS, Channel.PHONE}
    assert not ContactPoint.objects.filter(customer=customer, invalid_at__isnull=False).exists()
    audited = AuditEntry.objects.filter(action="consent", verb="restored")
    assert audited.count() == len(restored)
    assert all("was a mistake" in entry.reason for entry in audited)
    undone = TaskEvent.objects.get(task=task, kind=TaskEvent.Kind.UNDONE)
    assert undone.actor == bob
    words = lines([undone])[0]
    assert words.title == "Outcome undone" and "taken back" in words.text


def test_a_channel_never_recorded_is_not_recorded_again(
    task: Task, bob: Any, customer: Customer
) -> None:
    record(task, Report(outcome="refused"), actor=bob, now=CALL)
    assert set(consent_rows(customer)) == set(Channel.values)
    undo(task, actor=bob, now=CALL + timedelta(minutes=1))
    assert consent_rows(customer) == {}
    assert customer_flags(customer) == (False, None, "")


def test_too_late_or_someone_else_changes_nothing(
    task: Task, bob: Any, customer: Customer, service_team: Team
) -> None:
    record(task, Report(outcome="wrong_number"), actor=bob, now=CALL)
    after = (consent_rows(customer), customer_flags(customer), task.status)
    with pytest.raises(ValidationError, match="can no longer be undone"):
        undo(task, actor=bob, now=CALL + UNDO_WINDOW + timedelta(seconds=1))
    dave = agent("dave", service_team)
    with pytest.raises(ValidationError, match="Only the person who recorded"):
        undo(task, actor=dave, now=CALL + timedelta(minutes=1))
    task.refresh_from_db()
    assert (consent_rows(customer), customer_flags(customer), task.status) == after
    assert not TaskEvent.objects.filter(kind=TaskEvent.Kind.UNDONE).exists()


def test_an_outcome_that_withdraws_nothing_cannot_be_undone(task: Task, bob: Any) -> None:
    record(task, Report(outcome="reached", score=4), actor=bob, now=CALL)
    with pytest.raises(ValidationError):
        undo(task, actor=bob, now=CALL + timedelta(minutes=1))


def test_undo_twice_is_refused(task: Task, bob: Any) -> None:
    record(task, Report(outcome="refused"), actor=bob, now=CALL)
    undo(task, actor=bob, now=CALL + timedelta(minutes=1))
    with pytest.raises(ValidationError):
        undo(task, actor=bob, now=CALL + timedelta(minutes=2))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    before=st.dictionaries(
        st.sampled_from(Channel.values),
        st.sampled_from([Consent.Status.GRANTED, Consent.Status.WITHDRAWN]),
    ),
    outcome=st.sampled_from(["wrong_number", "refused"]),
    dnc=st.booleans(),
)
def test_undo_restores_any_earlier_consent(
    service_team: Team, before: dict[str, str], outcome: str, dnc: bool
) -> None:
    """Whatever the customer's consent was, an undo leaves it exactly as it was."""
    bob = agent(f"agent-{Task.objects.count()}", service_team)
    customer = a_customer()
    for channel, status in before.items():
        Consent.objects.create(
            customer=customer,
            channel=channel,
            status=status,
            recorded_at=OPENED,
            method=Consent.Method.API,
            evidence=f"evidence {channel}",
        )
    if dnc:
        Customer.objects.filter(pk=customer.pk).update(
            do_not_contact=True, do_not_contact_at=OPENED, do_not_contact_reason="早先要求"
        )
    customer.refresh_from_db()
    state = (consent_rows(customer), customer_flags(customer))
    task = open_one(customer, service_team, now=OPENED, title="回访")
    Task.objects.filter(pk=task.pk).update(assignee=bob)
    task.refresh_from_db()
    record(task, Report(outcome=outcome), actor=bob, now=CALL)
    undo(task, actor=bob, now=CALL + timedelta(minutes=5))
    assert (consent_rows(customer), customer_flags(customer)) == state


def test_the_page_confirms_and_offers_the_undo(task: Task, bob: Any, bob_client: Client) -> None:
    Task.objects.filter(pk=task.pk).update(assignee=bob)
    url = f"/tasks/{task.pk}/"
    refused = bob_client.post(f"{url}outcome/", {"outcome": "refused"}, HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 400
    assert "Tick the box to confirm" in refused.content.decode()
    task.refresh_from_db()
    assert not task.is_closed
    done = bob_client.post(
        f"{url}outcome/", {"outcome": "refused", "confirm": "on"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert done.status_code == 302
    page = bob_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="undo"' in page and "open the task to undo" in page
    back = bob_client.post(f"{url}undo/", HTTP_ACCEPT_LANGUAGE="en", follow=True)
    text = back.content.decode()
    assert "the task is open again" in text and 'id="outcome-form"' in text
    task.refresh_from_db()
    assert task.status == "open"
