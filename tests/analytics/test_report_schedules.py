"""Scheduled reports: when they are due (08:00 organisation time, across day, week, month and
year boundaries, in a zone without and one with summer time), the mail a real local SMTP
server receives (the figures of the recipient's scope as a table and inline PNG charts), once
per period however many workers run, and the page that lists, creates, edits and deletes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from huifang.accounts.roles import Role
from huifang.analytics.models import ReportDelivery, ReportSchedule
from huifang.analytics.report_mail import FAILED, SENT, TAKEN, deliver, send_due
from huifang.analytics.schedules import due, last_moment, period_of
from huifang.audit.models import Entry
from huifang.integrations.models import Provider
from tests.conftest import make_staff
from tests.integrations.fakes import Sink, smtp_sink

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def local(text: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def covered(frequency: str, now: datetime) -> tuple[date, date]:
    period = period_of(frequency, last_moment(frequency, now))
    return period.first, period.last


@pytest.mark.parametrize(
    ("frequency", "now", "first", "last"),
    [
        ("daily", "2026-11-03 07:59", "2026-11-01", "2026-11-01"),
        ("daily", "2026-11-03 08:00", "2026-11-02", "2026-11-02"),
        ("daily", "2027-01-01 08:00", "2026-12-31", "2026-12-31"),
        ("weekly", "2026-11-02 07:59", "2026-10-19", "2026-10-25"),
        ("weekly", "2026-11-02 08:00", "2026-10-26", "2026-11-01"),
        ("weekly", "2026-11-08 23:59", "2026-10-26", "2026-11-01"),  # Sunday: still last week
        ("weekly", "2027-01-04 08:30", "2026-12-28", "2027-01-03"),  # across the year
        ("monthly", "2026-12-01 07:59", "2026-10-01", "2026-10-31"),
        ("monthly", "2026-12-01 08:00", "2026-11-01", "2026-11-30"),
        ("monthly", "2027-01-01 08:00", "2026-12-01", "2026-12-31"),
        ("monthly", "2028-03-01 08:00", "2028-02-01", "2028-02-29"),  # a leap February
    ],
)
def test_the_period_a_report_covers_in_shanghai(
    frequency: str, now: str, first: str, last: str
) -> None:
    with time_machine.travel(local(now), tick=False):
        got = covered(frequency, timezone.now())
    assert got == (date.fromisoformat(first), date.fromisoformat(last))


@pytest.mark.parametrize(
    ("frequency", "utc", "first", "last"),
    [
        # Summer time starts on Sunday 29 March 2026: 08:00 is 07:00 UTC before, 06:00 after.
        ("daily", "2026-03-28 06:59", "2026-03-26", "2026-03-26"),
        ("daily", "2026-03-28 07:00", "2026-03-27", "2026-03-27"),
        ("daily", "2026-03-29 05:59", "2026-03-27", "2026-03-27"),
        ("daily", "2026-03-29 06:00", "2026-03-28", "2026-03-28"),
        ("weekly", "2026-03-30 05:59", "2026-03-16", "2026-03-22"),
        ("weekly", "2026-03-30 06:00", "2026-03-23", "2026-03-29"),
        # It ends on Sunday 25 October: 08:00 on Monday the 26th is 07:00 UTC again.
        ("weekly", "2026-10-26 06:59", "2026-10-12", "2026-10-18"),
        ("weekly", "2026-10-26 07:00", "2026-10-19", "2026-10-25"),
        ("monthly", "2026-11-01 06:59", "2026-09-01", "2026-09-30"),
        ("monthly", "2026-11-01 07:00", "2026-10-01", "2026-10-31"),
    ],
)
def test_08_00_follows_summer_time_in_a_zone_that_has_it(
    settings: Any, frequency: str, utc: str, first: str, last: str
) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    with time_machine.travel(datetime.fromisoformat(utc).replace(tzinfo=UTC), tick=False):
        got = covered(frequency, timezone.now())
    assert got == (date.fromisoformat(first), date.fromisoformat(last))


@pytest.fixture
def mailbox(settings: Any) -> Iterator[tuple[Sink, Provider]]:
    """A real SMTP server on 127.0.0.1 and the enabled e-mail provider that sends to it."""
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]  # an admin allowed the local relay
    with smtp_sink() as (sink, port):
        provider = Provider(name="Mail", kind="email", channel="email", enabled=True)
        provider.set_settings(
            {
                "host": "127.0.0.1",
                "port": port,
                "security": "none",
                "sender": "reports@shop.example.cn",
                "sender_name": "回访报表",
            }
        )
        provider.save()
        yield sink, provider


def weekly(recipient: Any, **fields: Any) -> ReportSchedule:
    return ReportSchedule.objects.create(
        **{
            "name": "北区周报",
            "recipient": recipient,
            "frequency": "weekly",
            "tables": ["totals", "trend", "agent"],
            "created_by": recipient,
            "created_at": local("2026-11-02 09:00"),
            **fields,
        }
    )


MONDAY = local("2026-11-09 08:05")  # the report of 2 to 8 November is due


def test_a_due_report_arrives_with_its_table_and_inline_charts_once(
    figures: dict[str, Any], mailbox: tuple[Sink, Provider]
) -> None:
    sink, _provider = mailbox
    supervisor = make_staff("zhou", Role.SUPERVISOR, team=figures["north"])
    schedule = weekly(supervisor)
    assert send_due(local("2026-11-09 07:55")) == {}  # not before 08:00
    assert send_due(MONDAY) == {SENT: 1}
    assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["To"] == "zhou@example.com"
    assert mail["Subject"] == "北区周报：2026-11-02 – 2026-11-08"
    html_part = mail.get_body(("html",))
    text_part = mail.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    assert "<table" in html and "Li" in html and "Wang" not in html  # the north team's only
    assert "Li" in text and "Wang" not in text
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 2  # the trend's lines and the agents' bars
    for image in images:
        cid = str(image["Content-ID"]).strip("<>")
        assert f'src="cid:{cid}"' in html
        assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
    # A second run, a worker started twice: nothing more.
    assert send_due(MONDAY + timedelta(minutes=15)) == {}
    assert len(sink.messages) == 1
    delivery = ReportDelivery.objects.get()
    assert (delivery.period_first, delivery.period_last) == (date(2026, 11, 2), date(2026, 11, 8))
    assert delivery.status == ReportDelivery.Status.SENT
    assert delivery.reference == str(mail["Message-ID"]).strip()
    schedule.refresh_from_db()
    assert schedule.last_sent_at == MONDAY and schedule.last_error == ""
    entry = Entry.objects.get(action=Entry.Action.EXPORT)
    assert entry.details["period"] == ["2026-11-02", "2026-11-08"]
    assert entry.details["scope"] == "teams"


def test_two_workers_with_the_same_due_report_send_it_once(
    figures: dict[str, Any], mailbox: tuple[Sink, Provider]
) -> None:
    sink, _provider = mailbox
    schedule = weekly(make_staff("boss", Role.ADMIN))
    seen = due(schedule, MONDAY)  # both workers found it due before either sent it
    assert seen is not None
    assert deliver(seen, MONDAY) == SENT
    assert deliver(seen, MONDAY) == TAKEN
    assert len(sink.messages) == 1


def test_without_an_e_mail_provider_nothing_is_sent_the_page_says_so_and_the_next_run_does(
    figures: dict[str, Any], settings: Any
) -> None:
    analyst = make_staff("ana", Role.ANALYST)
    schedule = weekly(analyst, tables=["totals"])
    assert send_due(MONDAY) == {FAILED: 1}
    assert not ReportDelivery.objects.exists()
    schedule.refresh_from_db()
    assert schedule.last_error == "没有启用的电子邮件服务商：未发送任何内容。"
    client = Client()
    client.force_login(analyst)
    page = client.get(reverse("reports:schedules")).content.decode()
    assert "没有启用的电子邮件服务商" in page
    settings.HUIFANG_OUTBOUND_ALLOW = ["127.0.0.1"]
    with smtp_sink() as (sink, port):
        provider = Provider(name="Mail", kind="email", channel="email", enabled=True)
        provider.set_settings(
            {"host": "127.0.0.1", "port": port, "security": "none", "sender": "r@example.cn"}
        )
        provider.save()
        assert send_due(MONDAY + timedelta(minutes=15)) == {SENT: 1}
    assert len(sink.messages) == 1
    schedule.refresh_from_db()
    assert schedule.last_error == "" and schedule.last_sent_at is not None


def test_a_refused_recipient_gives_the_claim_back(
    figures: dict[str, Any], mailbox: tuple[Sink, Provider]
) -> None:
    sink, _provider = mailbox
    admin = make_staff("boss", Role.ADMIN)
    busy = make_staff("busy", Role.ANALYST)
    busy.email = "busy@example.com"  # the sink answers 451: try again later
    busy.save()
    schedule = weekly(busy, created_by=admin)
    assert send_due(MONDAY) == {FAILED: 1}
    assert not ReportDelivery.objects.exists() and not sink.messages
    schedule.refresh_from_db()
    assert "451" in schedule.last_error


def test_a_schedule_made_after_08_00_waits_for_the_next_period(figures: dict[str, Any]) -> None:
    schedule = weekly(make_staff("boss", Role.ADMIN), created_at=local("2026-11-09 09:00"))
    assert due(schedule, local("2026-11-09 09:15")) is None
    later = due(schedule, local("2026-11-16 08:00"))
    assert later is not None and later.period.first == date(2026, 11, 9)
    schedule.enabled = False
    assert due(schedule, local("2026-11-16 08:00")) is None


# The page.


def test_an_analyst_creates_edits_and_deletes_their_own_schedule_audited() -> None:
    analyst = make_staff("ana", Role.ANALYST)
    client = Client()
    client.force_login(analyst)
    assert client.get(reverse("reports:schedule_new")).status_code == 200
    got = client.post(
        reverse("reports:schedule_new"),
        {
            "name": "每日概览",
            "recipient": analyst.pk,
            "frequency": "daily",
            "tables": ["team", "totals"],
            "enabled": "on",
        },
    )
    assert got.status_code == 302
    schedule = ReportSchedule.objects.get()
    assert schedule.tables == ["totals", "team"] and schedule.created_by == analyst
    assert Entry.objects.filter(action=Entry.Action.SETTINGS, verb="report schedule created")
    got = client.post(
        reverse("reports:schedule_edit", args=[schedule.pk]),
        {"name": "每日概览", "recipient": analyst.pk, "frequency": "monthly", "tables": ["trend"]},
    )
    assert got.status_code == 302
    schedule.refresh_from_db()
    assert schedule.frequency == "monthly" and not schedule.enabled
    assert "每日概览" in client.get(reverse("reports:schedules")).content.decode()
    got = client.post(reverse("reports:schedule_delete", args=[schedule.pk]))
    assert got.status_code == 302 and not ReportSchedule.objects.exists()
    assert Entry.objects.filter(action=Entry.Action.SETTINGS, verb="report schedule deleted")


def test_bad_input_is_refused_with_a_message() -> None:
    analyst = make_staff("ana", Role.ANALYST)
    other = make_staff("other", Role.ANALYST)
    client = Client()
    client.force_login(analyst)
    got = client.post(
        reverse("reports:schedule_new"),
        {"name": "x", "recipient": other.pk, "frequency": "hourly", "tables": []},
    )
    assert got.status_code == 400
    page = got.content.decode()
    assert "请至少选择一张报表。" in page
    assert "请选择一位有电子邮件地址的员工。" in page  # not someone else: admins set those up
    assert not ReportSchedule.objects.exists()


def test_others_schedules_are_out_of_reach_except_for_admins() -> None:
    analyst = make_staff("ana", Role.ANALYST)
    other = make_staff("other", Role.ANALYST)
    admin = make_staff("boss", Role.ADMIN)
    theirs = weekly(other)
    client = Client()
    client.force_login(analyst)
    assert "北区周报" not in client.get(reverse("reports:schedules")).content.decode()
    assert client.get(reverse("reports:schedule_edit", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("reports:schedule_delete", args=[theirs.pk])).status_code == 404
    client.force_login(admin)
    assert "北区周报" in client.get(reverse("reports:schedules")).content.decode()
    assert client.get(reverse("reports:schedule_edit", args=[theirs.pk])).status_code == 200
    agent = make_staff("li", Role.AGENT)
    client.force_login(agent)
    assert client.get(reverse("reports:schedules")).status_code == 403
