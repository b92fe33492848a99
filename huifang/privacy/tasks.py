"""Retention's periodic purge, run by the one worker started with ``--scheduler``."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from huifang.core.clock import DatabaseClock

from .retention import purge


@db_periodic_task(crontab(hour="20", minute="15"))  # 04:15 in China; Huey runs in UTC
def purge_old_data() -> int:
    """Daily; does nothing while ``HUIFANG_RETENTION_MONTHS`` is 0. Idempotent: a second run
    finds nothing left to purge."""
    done = purge(DatabaseClock().now())
    return done.events + done.messages + done.attempts
