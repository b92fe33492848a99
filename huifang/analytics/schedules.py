"""Scheduled reports (定时报表): when a schedule's report is due, and for which period.

A report goes out at 08:00 organisation time (``SEND_AT``): a daily one every day with the day
before, a weekly one on Monday with the week before (Monday to Sunday), a monthly one on the
first with the month before. "Due" is judged against the latest such moment, so the worker may
look every few minutes: a report not yet sent for the latest period — the worker was down at
08:00, the mail server did not answer, no e-mail provider was set up — goes out at the next
look, and only the latest period is ever sent (a schedule does not mail a backlog). A schedule
made after the latest moment waits for the next one. Which periods were sent is kept in
``ReportDelivery``, one row per schedule and period, unique: two workers cannot both send one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from huifang.organisation.zones import organisation_zone

from .models import ReportDelivery, ReportSchedule
from .periods import Period

SEND_AT = time(8, 0)
DAILY, WEEKLY, MONTHLY = (f.value for f in ReportSchedule.Frequency)


def _earlier(day: date, frequency: str) -> date:
    """The start day of the send cycle before the one starting on ``day``."""
    if frequency == DAILY:
        return day - timedelta(days=1)
    if frequency == WEEKLY:
        return day - timedelta(days=7)
    return (day - timedelta(days=1)).replace(day=1)


def last_moment(frequency: str, now: datetime) -> datetime:
    """The latest send moment (08:00 local on the cycle's first day) at or before ``now``."""
    zone = organisation_zone()
    today = now.astimezone(zone).date()
    if frequency == DAILY:
        day = today
    elif frequency == WEEKLY:
        day = today - timedelta(days=today.weekday())
    elif frequency == MONTHLY:
        day = today.replace(day=1)
    else:
        raise ValueError(f"unknown frequency {frequency!r}")
    moment = datetime.combine(day, SEND_AT, tzinfo=zone)
    if moment > now:
        moment = datetime.combine(_earlier(day, frequency), SEND_AT, tzinfo=zone)
    return moment


def period_of(frequency: str, moment: datetime) -> Period:
    """The period a report sent at ``moment`` covers: the day, week or month before it."""
    day = moment.astimezone(organisation_zone()).date()
    last = day - timedelta(days=1)
    return Period(_earlier(day, frequency), last, "day")


@dataclass(frozen=True)
class Due:
    schedule: ReportSchedule
    period: Period
    moment: datetime


def due(schedule: ReportSchedule, now: datetime) -> Due | None:
    """The report ``schedule`` should send now, if any."""
    if not schedule.enabled:
        return None
    moment = last_moment(schedule.frequency, now)
    if moment < schedule.created_at:
        return None
    period = period_of(schedule.frequency, moment)
    if ReportDelivery.objects.filter(schedule=schedule, period_first=period.first).exists():
        return None
    return Due(schedule, period, moment)


def all_due(now: datetime) -> list[Due]:
    found = (
        due(schedule, now)
        for schedule in ReportSchedule.objects.filter(enabled=True).select_related("recipient")
    )
    return [d for d in found if d is not None]
