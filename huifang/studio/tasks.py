"""The rules' periodic work, run by the one worker started with ``--scheduler`` (Huey loads
every app's ``tasks`` module)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from huifang.core.clock import DatabaseClock

from .sets import run_due_switches


@db_periodic_task(crontab(minute="*"))
def switch_strategy_sets() -> int:
    """Scheduled strategy-set switches whose time has come (judged by the database clock, as
    due steps are). Idempotent, so a second scheduler by mistake never switches twice."""
    return len(run_due_switches(DatabaseClock().now()))
