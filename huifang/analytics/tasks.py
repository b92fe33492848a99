"""The rollups' periodic upkeep, run by the one worker started with ``--scheduler``."""

from __future__ import annotations

from datetime import timedelta

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from huifang.core.clock import DatabaseClock

from .report_mail import send_due
from .rollup import REBUILD_DAYS, local_day, rebuild, refresh


@db_periodic_task(crontab(minute="*"))
def refresh_rollups() -> int:
    """Every minute, so a new message, task or answer shows in the reports within a minute.
    Idempotent: a second scheduler by mistake redoes the same days to the same rows."""
    return len(refresh(DatabaseClock().now()).days)


@db_periodic_task(crontab(hour="19", minute="45"))  # 03:45 in China; Huey runs in UTC
def rebuild_last_week() -> int:
    """The changes no timestamp points at (a failure receipt, a drop, a customer moved to
    another city) on days the minute refresh no longer looks at; on PostgreSQL on
    ``ANALYTICS_REBUILD_JOBS`` connections at once (``rebuild``'s default)."""
    now = DatabaseClock().now()
    today = local_day(now)
    return len(rebuild(today - timedelta(days=REBUILD_DAYS), today, now).days)


@db_periodic_task(crontab(minute="*/15"))
def send_scheduled_reports() -> int:
    """Every quarter of an hour, so a report goes out soon after 08:00 in any organisation
    zone (Huey runs in UTC) and one that could not be sent is tried again soon. Idempotent:
    each report is claimed once per schedule and period (``report_mail``)."""
    return sum(send_due(DatabaseClock().now()).values())
